# shellcheck shell=bash
# scripts/bench/run.sh's peer: Apache 2.4 with mod_auth_openidc on the same Redis and the same
# provider, configured as its best case (event MPM, server-side sessions in Redis, keep-alive
# without a request limit, access log off). Sourced by run.sh; start_apache uses its
# variables (RUN, P_APACHE, APACHE, ISSUER, APACHE_SECRET, P_REDIS, PIDS) and helpers
# (wait_http), and sets APACHE_PID.

start_apache() {
  local d M
  mkdir -p "$RUN/apache-run" "$RUN/www/login" "$RUN/www/protected" "$RUN/www/public"
  for d in login protected public; do echo ok >"$RUN/www/$d/ok.txt"; done
  chmod -R a+rX "$RUN/www"
  M=/usr/lib/apache2/modules
  cat >"$RUN/apache.conf" <<EOF
ServerName 127.0.0.1
Listen 127.0.0.1:$P_APACHE
PidFile $RUN/apache-run/apache.pid
DefaultRuntimeDir $RUN/apache-run
ErrorLog $RUN/apache.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authn_core_module $M/mod_authn_core.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule authz_user_module $M/mod_authz_user.so
LoadModule auth_openidc_module $M/mod_auth_openidc.so
# Keep-alive without a per-connection request limit: the peer's best case, like the service's.
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot $RUN/www
<Directory $RUN/www>
  Require all granted
</Directory>

OIDCProviderMetadataURL $ISSUER/.well-known/openid-configuration
OIDCClientID apache-bench
OIDCClientSecret $APACHE_SECRET
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRedirectURI $APACHE/oidc/redirect_uri
OIDCCryptoPassphrase $(head -c 24 /dev/urandom | base64)
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCSessionType server-cache
OIDCCacheType redis
OIDCRedisCacheServer 127.0.0.1:$P_REDIS
OIDCSessionInactivityTimeout 28800
OIDCSessionMaxDuration 604800

<Location /oidc/>
  AuthType openid-connect
  Require valid-user
</Location>
<Location /login/>
  AuthType openid-connect
  Require valid-user
</Location>
# The benchmarked location: 401 instead of a redirect without a session, so a lost session
# shows up as errors in wrk's count.
<Location /protected/>
  AuthType openid-connect
  Require valid-user
  OIDCUnAuthAction 401
</Location>
${BENCH_APACHE_EXTRA:-}
EOF
  /usr/sbin/apache2 -f "$RUN/apache.conf" -DFOREGROUND >"$RUN/apache-stdout.log" 2>&1 &
  APACHE_PID=$!
  PIDS+=("$APACHE_PID")
  wait_http "$APACHE/protected/ok.txt" 401 "Apache" "$APACHE_PID"
}
