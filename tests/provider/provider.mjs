// Test-only OpenID Provider for oidc-session's integration tests.
//
// A real, certified OP (panva's oidc-provider 9.x), configured from one JSON
// document in the TEST_OP_CONFIG environment variable:
//
//   {
//     "port": 0,                       // 0 = any free port
//     "issuer_path": "",               // optional suffix, e.g. "/realms/x"
//     "clients": [{
//       "client_id": "rp",
//       "client_secret": "…",          // omit for public clients
//       "token_endpoint_auth_method": "none" | "client_secret_basic" | "client_secret_post",
//       "redirect_uris": ["…"],
//       "post_logout_redirect_uris": ["…"],
//       "backchannel_logout_uri": "…",            // optional
//       "backchannel_logout_session_required": true // optional, default true when a URI is set
//       // any other client metadata (snake_case) is passed through unchanged
//     }],
//     "access_token_ttl": 300, "id_token_ttl": 300, "refresh_token_ttl": 86400,
//     "rotate_refresh_tokens": true, "backchannel_logout": true, "revocation": true,
//     "accounts": { "<login>": { "<claim>": value, … } },  // optional claim overrides
//                                       // (changed while running: POST /test/accounts/<login>
//                                       // with the new overrides; {"disabled": true} removes
//                                       // the account, as an administrator deleting a user)
//     "par": true,                           // Pushed Authorization Requests (default on)
//     "refresh_delay_ms": 0,                 // hold each refresh grant's answer this long
//                                            // (after the tokens are rotated): a slow provider
//     "client_auth_signing_algs": ["PS256"], // optional: the only algorithms accepted (and
//                                            // advertised) for private_key_jwt assertions
//     "extra_clients": [{ … }],              // more clients, e.g. an API client with the
//                                            // client_credentials grant
//     "resource_servers": { "https://api.example.test": "jwt" | "opaque" }
//                                            // resource indicators (RFC 8707): access tokens
//                                            // for these resources, in that format
//     "acr_values": ["pwd", "mfa"]           // optional: acr_values_supported; every ID token
//                                            // then carries auth_time, acr and amr (as many
//                                            // providers' do), and an account's overrides may
//                                            // name the `acr` and `amr` its logins get
//                                            // ({"acr": "mfa", "amr": ["otp"]})
//   }
//
// Clients may use private_key_jwt (with `jwks` or `jwks_uri`) and
// `require_pushed_authorization_requests`; PAR is on (`/request`).
//
// It listens on 127.0.0.1, prints exactly one line `READY <issuer>` on stdout,
// and exits when its stdin closes (so a dead test process never leaves it
// behind) or on SIGTERM/SIGINT. Everything else goes to stderr.
//
// Accounts are synthesised from the login name typed into the dev login form:
//   sub = preferred_username = <login>, name = "<Login> Test",
//   email = <login>@example.test, email_verified = !login.startsWith("unverified"),
//   groups = ["users"] (+ "admins" when login starts with "admin").
//
// Browserless sign-in (what tests/support/provider.rs drives):
//   GET  /auth?…                      -> 303 to /interaction/<uid>
//   GET  /interaction/<uid>           -> login page, form with hidden prompt=login
//   POST /interaction/<uid>  prompt=login&login=<user>&password=<any>
//                                     -> 303 /auth/<uid> -> 303 /interaction/<uid>
//   GET  /interaction/<uid>           -> consent page, form with hidden prompt=consent
//   POST /interaction/<uid>  prompt=consent -> 303 /auth/<uid> -> 303 <redirect_uri>?code=…
// End session (RP-initiated logout, v9):
//   GET  /session/end?client_id=…&post_logout_redirect_uri=…&state=…  (or id_token_hint)
//        -> 200 page with <form id="op.logoutForm" action="/session/end/confirm">
//           holding a hidden `xsrf`; the "Yes, sign me out" button sits outside
//           the form (form="op.logoutForm") with name=logout value=yes.
//        (with no session at the OP it answers with an auto-submitting form_post
//         page carrying xsrf and logout=yes instead)
//   POST /session/end/confirm  xsrf=<value>&logout=yes
//        -> back-channel logout POSTs are sent (and awaited) for every client of
//           the session, then 303 to post_logout_redirect_uri?state=… or to
//           /session/end/success.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints NOTICE lines with console.info; stdout is reserved for
// the READY line (the Rust harness stops reading it after that).
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);
console.debug = (...args) => console.error(...args);

function fail(message) {
  console.error(`test provider: ${message}`);
  process.exit(2);
}

let config;
try {
  config = JSON.parse(process.env.TEST_OP_CONFIG ?? '{}');
} catch (err) {
  fail(`TEST_OP_CONFIG is not valid JSON: ${err.message}`);
}

const port = Number(config.port ?? 0);
const issuerPath = config.issuer_path ?? '';
if (issuerPath && !issuerPath.startsWith('/')) fail('issuer_path must start with "/"');
// Requests are routed to the provider below this prefix (a trailing slash in
// issuer_path stays in the issuer string only, for issuer-mismatch tests).
const mountPrefix = issuerPath.replace(/\/+$/, '');

const accessTokenTtl = Number(config.access_token_ttl ?? 300);
const idTokenTtl = Number(config.id_token_ttl ?? 300);
const refreshTokenTtl = Number(config.refresh_token_ttl ?? 24 * 60 * 60);
const rotateRefreshTokens = config.rotate_refresh_tokens ?? true;
const refreshDelayMs = Number(config.refresh_delay_ms ?? 0);
const backchannelLogout = config.backchannel_logout ?? true;
const revocation = config.revocation ?? true;
const accounts = config.accounts ?? {};
const clientAuthSigningAlgs = config.client_auth_signing_algs;

// Client metadata: sensible defaults for a code+PKCE RP with refresh tokens;
// any other snake_case metadata given in the config is passed through.
const resourceServers = config.resource_servers ?? null;

const clients = [...(config.clients ?? []), ...(config.extra_clients ?? [])].map((c) => {
  if (!c.client_id) fail('every client needs a client_id');
  const client = {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
    post_logout_redirect_uris: [],
    ...c,
  };
  if (client.backchannel_logout_uri && client.backchannel_logout_session_required === undefined) {
    // so ID tokens and logout tokens carry `sid`
    client.backchannel_logout_session_required = true;
  }
  return client;
});

// Counters for GET /test/stats.
const stats = {
  token_requests: 0,
  refresh_grants: 0,
  authorization_code_grants: 0,
  revocations: 0,
  backchannel_logout_ok: 0,
  backchannel_logout_errors: 0,
  last_backchannel_error: null,
  // Every incoming W3C traceparent, by route (the service's outgoing calls carry one when traced).
  traceparents: [],
  par_requests: 0,
  introspection_requests: 0,
  // Header and claims of every client assertion received, with the route it came to.
  client_assertions: [],
};

function decodeJwtPart(part) {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

function claimsFor(login) {
  const display = login.charAt(0).toUpperCase() + login.slice(1);
  const groups = ['users'];
  if (login.startsWith('admin')) groups.push('admins');
  return {
    sub: login,
    preferred_username: login,
    name: `${display} Test`,
    email: `${login}@example.test`,
    email_verified: !login.startsWith('unverified'),
    groups,
    ...Object.fromEntries(Object.entries(accounts[login] ?? {}).filter(([k]) => !['disabled', 'acr', 'amr'].includes(k))),
  };
}

// Start-up milestones on stderr, so that a start that never prints READY (seen rarely on a
// loaded CI machine) shows in the harness's failure message where it stopped.
const milestone = (what) => console.error(`test provider: ${what} after ${process.uptime().toFixed(2)} s`);
milestone('modules loaded');

// A fresh RS256 signing key per run; RPs must fetch the JWKS anyway.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
milestone('signing key generated');
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

// Listen first: with port 0 the issuer (which contains the port) is only
// known once the socket is bound.
let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  const accountPath = path.replace(mountPrefix, '').match(/^\/test\/accounts\/([^/]+)$/);
  if (req.method === 'POST' && accountPath) {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      accounts[decodeURIComponent(accountPath[1])] = JSON.parse(body || '{}');
      res.statusCode = 204;
      res.end();
    });
    return;
  }
  if (req.method === 'GET' && (path === '/test/stats' || path === `${mountPrefix}/test/stats`)) {
    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'no-store');
    res.end(JSON.stringify(stats));
    return;
  }
  if (mountPrefix) {
    if (path !== mountPrefix && !path.startsWith(`${mountPrefix}/`)) {
      res.statusCode = 404;
      res.end('not under the issuer path\n');
      return;
    }
    // Express-style mount: oidc-provider derives its mount path from
    // req.originalUrl minus req.url, so every URL it emits keeps the prefix.
    req.originalUrl = req.url;
    req.url = req.url.slice(mountPrefix.length) || '/';
  }
  handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}${issuerPath}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },

    async findAccount(_ctx, sub) {
      // A removed account: its grants are refused (invalid_grant) from now on.
      if (accounts[sub]?.disabled) return undefined;
      return {
        accountId: sub,
        async claims() { return claimsFor(sub); },
      };
    },
    claims: {
      openid: config.acr_values ? ['sub', 'auth_time', 'acr', 'amr'] : ['sub'],
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      // sid must stay a claim so ID tokens of back-channel clients carry it
      sid: null,
      auth_time: null,
      acr: null,
      amr: null,
      iss: null,
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    // Put the scope-granted claims into the ID token too (the RP reads
    // preferred_username/email/groups from it without calling userinfo).
    conformIdTokenClaims: false,

    // PKCE S256 for every client, public or confidential.
    pkce: { required: () => true },

    // A refresh token whenever the client may use the grant and offline_access
    // was granted. NB: oidc-provider drops offline_access from the request
    // unless it carries prompt=consent (OIDC Core §11).
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    rotateRefreshToken: () => rotateRefreshTokens,

    ...(clientAuthSigningAlgs ? { enabledJWA: { clientAuthSigningAlgValues: clientAuthSigningAlgs } } : {}),
    ...(config.acr_values ? { acrValues: config.acr_values } : {}),

    ttl: {
      AccessToken: accessTokenTtl,
      IdToken: idTokenTtl,
      RefreshToken: refreshTokenTtl,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: Math.max(refreshTokenTtl, 3600),
      Grant: Math.max(refreshTokenTtl, 3600),
    },

    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: backchannelLogout },
      revocation: { enabled: revocation },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      pushedAuthorizationRequests: { enabled: config.par ?? true },
      clientCredentials: { enabled: true },
      ...(resourceServers ? {
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, resource) => {
            const format = resourceServers[resource];
            if (!format) throw new errors.InvalidTarget();
            return {
              scope: 'api',
              accessTokenTTL: accessTokenTtl,
              accessTokenFormat: format,
              ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
            };
          },
        },
      } : {}),
    },

    // oidc-provider's SSRF guard refuses loopback targets, and the RP under
    // test listens on 127.0.0.1: drop its guarded dispatcher.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
  });

  // Count token-endpoint POSTs by grant type, successful or not (a replayed
  // refresh token still counts as a refresh grant the OP saw).
  provider.use(async (ctx, next) => {
    await next();
    const traceparent = ctx.get('traceparent');
    if (traceparent) stats.traceparents.push({ route: ctx.oidc?.route ?? ctx.path, traceparent });
    if (ctx.method === 'POST' && ctx.oidc?.route === 'token') {
      stats.token_requests += 1;
      const grantType = ctx.oidc.params?.grant_type ?? ctx.oidc.body?.grant_type;
      if (grantType === 'refresh_token') {
        stats.refresh_grants += 1;
        if (refreshDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, refreshDelayMs));
      }
      if (grantType === 'authorization_code') stats.authorization_code_grants += 1;
    }
    if (ctx.method === 'POST' && ctx.oidc?.route === 'revocation') {
      stats.revocations += 1;
    }
    if (ctx.method === 'POST' && ctx.oidc?.route === 'introspection') {
      stats.introspection_requests += 1;
    }
    if (ctx.method === 'POST' && ctx.oidc?.route === 'pushed_authorization_request') {
      stats.par_requests += 1;
    }
    const assertion = ctx.oidc?.params?.client_assertion ?? ctx.oidc?.body?.client_assertion;
    if (ctx.method === 'POST' && typeof assertion === 'string') {
      const [header, claims] = assertion.split('.').map(decodeJwtPart);
      stats.client_assertions.push({ route: ctx.oidc.route, status: ctx.status, header, claims });
    }
  });

  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    stats.backchannel_logout_ok += 1;
    console.error(`test provider: back-channel logout to ${client.clientId} ok (sub=${accountId} sid=${sid})`);
  });
  provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => {
    stats.backchannel_logout_errors += 1;
    stats.last_backchannel_error = `${client.clientId}: ${err.message}`;
    console.error(`test provider: back-channel logout to ${client.clientId} failed (sub=${accountId} sid=${sid}): ${err.message}`);
  });
  for (const event of ['grant.error', 'authorization.error', 'pushed_authorization_request.error', 'end_session.error', 'introspection.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => {
      console.error(`test provider: ${event}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
    });
  }
  provider.on('server_error', (_ctx, err) => console.error('test provider: server_error', err));

  // The dev login form records no `acr`/`amr`: a login takes them from the account's
  // overrides, so a test can have the user "use a second factor" before signing in again.
  const interactionFinished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = (req, res, result, options) => {
    const login = result?.login;
    const account = login && accounts[login.accountId];
    if (account?.acr) login.acr = account.acr;
    if (account?.amr) login.amr = account.amr;
    return interactionFinished(req, res, result, options);
  };

  handler = provider.callback();
  milestone('ready');
  process.stdout.write(`READY ${issuer}\n`);
});

server.on('error', (err) => fail(`cannot listen: ${err.message}`));

// Exit when the parent goes away (stdin closes) or asks us to.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
