# shellcheck shell=bash
# What scripts/bench/run.sh's wrk runs send: the back-channel logout tokens (valid ones signed
# by the mini-OP's key, each sent once, and one refused at the signature check), each checked
# once against the service first, and the wrk Lua scripts of the POST requests. Sourced by
# run.sh; prepare_requests uses its variables (RUN, HERE, BCL_TOKENS, MINI_KID, MINI_ISSUER,
# ISSUER, A_PUB, B_PUB, SESSION, KC_SESSION) and helpers (py, log, die), and sets REFUSED.

prepare_requests() {
  local exp s1 s2 probe code
  log "signing $BCL_TOKENS valid logout tokens (2 processes)"
  exp=$(($(date +%s) + 3600))
  sign_tokens() {
    node "$HERE/mini-op.mjs" sign-logout-tokens --key "$RUN/mini-op-key.pem" --kid "$MINI_KID" \
      --iss "$MINI_ISSUER" --aud oidc-session --exp "$exp" --count "$1"
  }
  sign_tokens $((BCL_TOKENS / 2)) >"$RUN/tokens-1.txt" &
  s1=$!
  sign_tokens $((BCL_TOKENS - BCL_TOKENS / 2)) >"$RUN/tokens-2.txt" &
  s2=$!
  wait $s1 $s2
  cat "$RUN/tokens-1.txt" "$RUN/tokens-2.txt" >"$RUN/logout-tokens.txt"
  rm "$RUN/tokens-1.txt" "$RUN/tokens-2.txt"
  probe=$(sign_tokens 1)
  code=$(curl -s -o "$RUN/probe.txt" -w '%{http_code}' --data-urlencode "logout_token=$probe" "$B_PUB/auth/backchannel-logout")
  [ "$code" = 200 ] || die "a valid logout token got $code: $(cat "$RUN/probe.txt")"
  REFUSED=$(py refused-logout-token --jwks "$(curl -sf "$ISSUER/.well-known/openid-configuration" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwks_uri"])')" --iss "$ISSUER" --aud oidc-session)
  code=$(curl -s -o "$RUN/probe.txt" -w '%{http_code}' --data-urlencode "logout_token=$REFUSED" "$A_PUB/auth/backchannel-logout")
  [ "$code" = 400 ] || die "a badly signed logout token got $code: $(cat "$RUN/probe.txt")"

  cat >"$RUN/introspect.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"session":"$SESSION"}'
wrk.headers["Content-Type"] = "application/json"
EOF
  cat >"$RUN/introspect-expired.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"session":"$KC_SESSION"}'
wrk.headers["Content-Type"] = "application/json"
EOF
  cat >"$RUN/bcl-refused.lua" <<EOF
wrk.method = "POST"
wrk.body = "logout_token=$REFUSED"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF
  # Each wrk thread sends its own share of the tokens, each once; past the end it starts over
  # (replays, answered 400 and counted as errors in the report).
  cat >"$RUN/bcl-valid.lua" <<'EOF'
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
  thread:set("nthreads", 2)
end
local tokens, i = {}, 0
function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == id then tokens[#tokens + 1] = "logout_token=" .. line end
    n = n + 1
  end
end
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
function request()
  i = i + 1
  return wrk.format("POST", nil, headers, tokens[(i - 1) % #tokens + 1])
end
EOF
}
