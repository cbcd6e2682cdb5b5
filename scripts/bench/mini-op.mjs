// A minimal OpenID Provider for the benchmark only (scripts/bench/run.sh), with no
// dependencies beyond Node.js. It exists for the two measurements the real test provider
// (tests/provider/provider.mjs) cannot serve:
//
//  1. Redis memory per session with tokens of the sizes Keycloak issues. The test provider
//     issues opaque 43-character access and refresh tokens; this one issues tokens shaped
//     like Keycloak 24–26's for a realm user with the default client scopes: an RS256
//     ID token and access token (JWTs with Keycloak's claim set) and an HS512 refresh
//     token (Keycloak's offline token format). Their sizes are reported by GET /bench/sizes.
//  2. Valid back-channel logout tokens in bulk. The test provider's signing key never
//     leaves it; this provider's key is a file, so `sign-logout-tokens` can pre-sign as many
//     logout tokens as a benchmark round needs, and the service verifies them against the
//     JWKS served here, through the same code path as any provider's.
//
// It does only what a relying party needs: discovery, JWKS, an authorization endpoint that
// signs in a fresh synthetic user at once (no login page) and redirects back with a code,
// a token endpoint (authorization_code with PKCE S256 checked; refresh_token), userinfo.
// It is not a provider to test against; it validates little beyond PKCE and the client id.
//
// Usage:
//   node mini-op.mjs keygen <key.pem>
//   node mini-op.mjs serve --key <key.pem> --client-id <id> [--port 0] [--access-ttl 300]
//        (--access-ttl: the access tokens' lifetime in seconds, as `exp` and `expires_in`)
//        prints `READY <issuer> <kid>` on stdout; exits when stdin closes or on SIGTERM.
//   node mini-op.mjs sign-logout-tokens --key <key.pem> --kid <kid> --iss <issuer>
//        --aud <client id> --count <n> --exp <unix seconds>     (one token per line, stdout)

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

function fail(message) {
  console.error(`mini-op: ${message}`);
  process.exit(2);
}

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    if (!argv[i].startsWith('--')) fail(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
    i += 1;
  }
  return out;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const json64 = (obj) => b64url(JSON.stringify(obj));
const uuid = () => crypto.randomUUID();
const now = () => Math.floor(Date.now() / 1000);

function loadKey(path) {
  const privateKey = crypto.createPrivateKey(fs.readFileSync(path));
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  // Keycloak's key ids are 43-character base64url strings: use the RFC 7638 thumbprint.
  const thumb = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  const kid = b64url(crypto.createHash('sha256').update(thumb).digest());
  return { privateKey, jwk: { ...jwk, kid, use: 'sig', alg: 'RS256' }, kid };
}

function signRs256(privateKey, header, payload) {
  const input = `${json64(header)}.${json64(payload)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), privateKey);
  return `${input}.${b64url(sig)}`;
}

const [mode, ...rest] = process.argv.slice(2);

if (mode === 'keygen') {
  const [path] = rest;
  if (!path) fail('keygen needs an output path');
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  fs.writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  process.exit(0);
}

if (mode === 'sign-logout-tokens') {
  const a = args(rest);
  for (const k of ['key', 'kid', 'iss', 'aud', 'count', 'exp']) if (!a[k]) fail(`--${k} is required`);
  const { privateKey } = loadKey(a.key);
  const count = Number(a.count);
  const exp = Number(a.exp);
  // Keycloak's shape: typ logout+jwt (25+), sub and sid, the back-channel logout event.
  // Every token names a session that does not exist (fresh sid): the service verifies it,
  // records its jti and looks the sid up; no session is deleted.
  const header = { alg: 'RS256', typ: 'logout+jwt', kid: a.kid };
  const lines = [];
  for (let i = 0; i < count; i += 1) {
    const iat = now();
    lines.push(signRs256(privateKey, header, {
      iat,
      exp,
      jti: uuid(),
      iss: a.iss,
      aud: a.aud,
      sub: uuid(),
      typ: 'Logout',
      sid: uuid(),
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    }));
  }
  // No process.exit() here: writes to a pipe are asynchronous and would be cut short.
  process.stdout.write(`${lines.join('\n')}\n`);
} else if (mode !== 'serve') {
  fail('usage: mini-op.mjs keygen|serve|sign-logout-tokens …');
} else {
  serve();
}

function serve() {
  const opts = args(rest);
  if (!opts.key || !opts['client-id']) fail('serve needs --key and --client-id');
  const { privateKey, jwk, kid } = loadKey(opts.key);
  const clientId = opts['client-id'];
  const accessTtl = Number(opts['access-ttl'] ?? 300);
  // Keycloak signs refresh tokens with a realm HMAC key (HS512, kid = a UUID).
  const hmacKey = crypto.randomBytes(64);
  const hmacKid = uuid();
  const realmPath = '/realms/bench';

  const codes = new Map(); // code -> { user, nonce, challenge, redirectUri, authTime, sid }
  const accessTokens = new Map(); // access token -> user (for userinfo)
  const refreshTokens = new Map(); // refresh token -> { user, sid, authTime }
  const sizes = { logins: 0, id_token: 0, access_token: 0, refresh_token: 0 };
  let userCounter = 0;

  function freshUser() {
    userCounter += 1;
    const n = String(userCounter).padStart(4, '0');
    return {
      sub: uuid(),
      preferred_username: `bench-user-${n}`,
      given_name: 'Bench',
      family_name: `User${n}`,
      name: `Bench User${n}`,
      email: `bench-user-${n}@example.com`,
      email_verified: true,
    };
  }

  function profile(user) {
    return {
      email_verified: user.email_verified,
      name: user.name,
      preferred_username: user.preferred_username,
      given_name: user.given_name,
      family_name: user.family_name,
      email: user.email,
    };
  }

  function issueTokens(issuer, { user, nonce, sid, authTime }) {
    const iat = now();
    const scope = 'openid offline_access profile email';
    const rsHeader = { alg: 'RS256', typ: 'JWT', kid };
    const accessToken = signRs256(privateKey, rsHeader, {
      exp: iat + accessTtl,
      iat,
      auth_time: authTime,
      jti: `onrtac:${uuid()}`,
      iss: issuer,
      aud: 'account',
      sub: user.sub,
      typ: 'Bearer',
      azp: clientId,
      sid,
      acr: '1',
      'allowed-origins': ['http://127.0.0.1'],
      realm_access: { roles: ['offline_access', 'default-roles-bench', 'uma_authorization'] },
      resource_access: { account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] } },
      scope,
      ...profile(user),
    });
    const atHash = b64url(crypto.createHash('sha256').update(accessToken).digest().subarray(0, 16));
    const idClaims = {
      exp: iat + 300,
      iat,
      auth_time: authTime,
      jti: `ofrtac:${uuid()}`,
      iss: issuer,
      aud: clientId,
      sub: user.sub,
      typ: 'ID',
      azp: clientId,
      sid,
      at_hash: atHash,
      acr: '1',
      ...profile(user),
    };
    if (nonce) idClaims.nonce = nonce;
    const idToken = signRs256(privateKey, rsHeader, idClaims);
    const rtInput = `${json64({ alg: 'HS512', typ: 'JWT', kid: hmacKid })}.${json64({
      exp: iat + 30 * 24 * 3600,
      iat,
      jti: uuid(),
      iss: issuer,
      aud: issuer,
      sub: user.sub,
      typ: 'Offline',
      azp: clientId,
      session_state: sid,
      sid,
      scope: 'openid offline_access profile email web-origins acr roles basic',
    })}`;
    const refreshToken = `${rtInput}.${b64url(crypto.createHmac('sha512', hmacKey).update(rtInput).digest())}`;
    accessTokens.set(accessToken, user);
    refreshTokens.set(refreshToken, { user, sid, authTime });
    sizes.logins += 1;
    sizes.id_token = idToken.length;
    sizes.access_token = accessToken.length;
    sizes.refresh_token = refreshToken.length;
    return {
      access_token: accessToken,
      expires_in: accessTtl,
      refresh_expires_in: 0,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      id_token: idToken,
      'not-before-policy': 0,
      session_state: sid,
      scope,
    };
  }

  function send(res, status, body, headers = {}) {
    const isJson = typeof body !== 'string';
    res.writeHead(status, {
      'content-type': isJson ? 'application/json' : 'text/plain',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(isJson ? JSON.stringify(body) : body);
  }

  function readBody(req) {
    return new Promise((resolve) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
  }

  const server = http.createServer(async (req, res) => {
    const { port } = server.address();
    const base = `http://127.0.0.1:${port}`;
    const issuer = `${base}${realmPath}`;
    const oidc = `${issuer}/protocol/openid-connect`;
    const url = new URL(req.url, base);
    const path = url.pathname;

    if (path === `${realmPath}/.well-known/openid-configuration`) {
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${oidc}/auth`,
        token_endpoint: `${oidc}/token`,
        userinfo_endpoint: `${oidc}/userinfo`,
        jwks_uri: `${oidc}/certs`,
        end_session_endpoint: `${oidc}/logout`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        scopes_supported: ['openid', 'offline_access', 'profile', 'email'],
        code_challenge_methods_supported: ['S256'],
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (path === `${oidc}/certs`.slice(base.length)) {
      return send(res, 200, { keys: [jwk] });
    }
    if (path === '/bench/sizes') return send(res, 200, sizes);

    if (path === `${oidc}/auth`.slice(base.length)) {
      const q = url.searchParams;
      if (q.get('client_id') !== clientId) return send(res, 400, 'unknown client_id');
      if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
        return send(res, 400, 'PKCE S256 required');
      }
      const redirectUri = q.get('redirect_uri');
      const code = `${uuid()}.${uuid()}.${uuid()}`;
      const sid = uuid();
      codes.set(code, {
        user: freshUser(),
        nonce: q.get('nonce'),
        challenge: q.get('code_challenge'),
        redirectUri,
        authTime: now(),
        sid,
      });
      const back = new URL(redirectUri);
      back.searchParams.set('state', q.get('state') ?? '');
      back.searchParams.set('session_state', sid);
      back.searchParams.set('iss', issuer);
      back.searchParams.set('code', code);
      return send(res, 302, '', { location: back.toString() });
    }

    if (path === `${oidc}/token`.slice(base.length) && req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const basic = (req.headers.authorization ?? '').match(/^Basic (.+)$/);
      const client = form.get('client_id')
        ?? (basic ? decodeURIComponent(Buffer.from(basic[1], 'base64').toString().split(':')[0]) : null);
      if (client !== clientId) return send(res, 401, { error: 'invalid_client' });
      if (form.get('grant_type') === 'authorization_code') {
        const grant = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (!grant) return send(res, 400, { error: 'invalid_grant' });
        const challenge = b64url(crypto.createHash('sha256').update(form.get('code_verifier') ?? '').digest());
        if (challenge !== grant.challenge) return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
        if (form.get('redirect_uri') !== grant.redirectUri) return send(res, 400, { error: 'invalid_grant' });
        return send(res, 200, issueTokens(issuer, grant));
      }
      if (form.get('grant_type') === 'refresh_token') {
        const grant = refreshTokens.get(form.get('refresh_token'));
        if (!grant) return send(res, 400, { error: 'invalid_grant' });
        return send(res, 200, issueTokens(issuer, { ...grant, nonce: null }));
      }
      return send(res, 400, { error: 'unsupported_grant_type' });
    }

    if (path === `${oidc}/userinfo`.slice(base.length)) {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const user = accessTokens.get(bearer);
      if (!user) return send(res, 401, { error: 'invalid_token' });
      return send(res, 200, { sub: user.sub, ...profile(user) });
    }

    return send(res, 404, 'not found');
  });

  server.listen(Number(opts.port ?? 0), '127.0.0.1', () => {
    const { port } = server.address();
    process.stdout.write(`READY http://127.0.0.1:${port}${realmPath} ${kid}\n`);
  });
  server.on('error', (err) => fail(`cannot listen: ${err.message}`));

  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
