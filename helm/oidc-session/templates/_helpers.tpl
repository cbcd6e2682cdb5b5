{{/* vim: set filetype=mustache: */}}

{{/* Chart name, at most 63 characters. */}}
{{- define "oidc-session.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart
name. Truncated to 54 characters so that "<fullname>-internal" still fits in 63.
*/}}
{{- define "oidc-session.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "oidc-session.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oidc-session.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "oidc-session.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oidc-session.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oidc-session.labels" -}}
helm.sh/chart: {{ include "oidc-session.chart" . }}
{{ include "oidc-session.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oidc-session
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "oidc-session.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "oidc-session.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "oidc-session.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "oidc-session.configMapName" -}}
{{- include "oidc-session.fullname" . -}}
{{- end -}}

{{- define "oidc-session.secretName" -}}
{{- include "oidc-session.fullname" . -}}
{{- end -}}

{{- define "oidc-session.internalServiceName" -}}
{{- printf "%s-internal" (include "oidc-session.fullname" .) -}}
{{- end -}}

{{- define "oidc-session.redisName" -}}
{{- printf "%s-redis" (include "oidc-session.fullname" .) -}}
{{- end -}}

{{/*
A setting as one string: lists are joined with commas, maps become k=v&k2=v2 (keys sorted,
form-URL-encoded as the service decodes them), everything else is printed as is.
*/}}
{{- define "oidc-session.asString" -}}
{{- $v := . -}}
{{- if kindIs "slice" $v -}}
{{- join "," $v -}}
{{- else if kindIs "map" $v -}}
{{- $pairs := list -}}
{{- range $k := keys $v | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" (urlquery $k) (index $v $k | toString | urlquery)) -}}
{{- end -}}
{{- join "&" $pairs -}}
{{- else if kindIs "float64" $v -}}
{{- $v | int64 | toString -}}
{{- else -}}
{{- $v | toString -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when a setting is set: booleans and numbers always are; "", [], {} and null are not. */}}
{{- define "oidc-session.isSet" -}}
{{- if or (kindIs "bool" .) (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
true
{{- else if not (empty .) -}}
true
{{- end -}}
{{- end -}}

{{/*
The Redis mode chosen in values: "standalone", "sentinel", "cluster" or "" (none).
Fails when more than one is configured. The dev Redis (redis.enabled) counts as standalone.
*/}}
{{- define "oidc-session.redisMode" -}}
{{- $r := .Values.config.redis -}}
{{- $modes := list -}}
{{- if or $r.url .Values.redis.enabled -}}
{{- $modes = append $modes "standalone" -}}
{{- end -}}
{{- if or $r.sentinel.sentinels $r.sentinel.masterName $r.sentinel.password -}}
{{- $modes = append $modes "sentinel" -}}
{{- end -}}
{{- if $r.cluster.nodes -}}
{{- $modes = append $modes "cluster" -}}
{{- end -}}
{{- if gt (len $modes) 1 -}}
{{- fail (printf "\n\nRedis: configure exactly one mode, but %s are set. Set only one of config.redis.url (standalone; redis.enabled also counts as standalone), config.redis.sentinel.* or config.redis.cluster.nodes." (join " and " $modes)) -}}
{{- end -}}
{{- if and (has "sentinel" $modes) (not $r.sentinel.masterName) -}}
{{- fail "\n\nRedis: sentinel mode needs config.redis.sentinel.masterName (the master name, e.g. mymaster)." -}}
{{- end -}}
{{- if and (has "sentinel" $modes) (not $r.sentinel.sentinels) -}}
{{- fail "\n\nRedis: sentinel mode needs config.redis.sentinel.sentinels (host:port of each sentinel)." -}}
{{- end -}}
{{- first (concat $modes (list "")) -}}
{{- end -}}

{{/* Path of the extra CA bundle, or "". */}}
{{- define "oidc-session.extraCaFile" -}}
{{- if .Values.config.extraCaFile -}}
{{- .Values.config.extraCaFile -}}
{{- else if or .Values.extraCa.configMapName .Values.extraCa.secretName -}}
{{- printf "/etc/oidc-session/ca/%s" .Values.extraCa.key -}}
{{- end -}}
{{- end -}}

{{/* Path of the private_key_jwt key file, or "". */}}
{{- define "oidc-session.clientPrivateKeyFile" -}}
{{- if .Values.config.clientPrivateKeyFile -}}
{{- .Values.config.clientPrivateKeyFile -}}
{{- else if .Values.clientPrivateKeySecret.name -}}
{{- printf "/etc/oidc-session/client-key/%s" .Values.clientPrivateKeySecret.key -}}
{{- end -}}
{{- end -}}

{{/* Client authentication: one credential, stated once (the service would refuse the rest at start). */}}
{{- define "oidc-session.validateClientAuth" -}}
{{- $c := .Values.config -}}
{{- $file := include "oidc-session.clientPrivateKeyFile" . -}}
{{- if and $c.clientPrivateKey $file -}}
{{- fail "\n\nClient key: set only one of config.clientPrivateKey and a key file (clientPrivateKeySecret or config.clientPrivateKeyFile)." -}}
{{- end -}}
{{- if and $c.clientSecret (or $c.clientPrivateKey $file) -}}
{{- fail "\n\nClient authentication: set config.clientSecret or a private key (config.clientPrivateKey, clientPrivateKeySecret, config.clientPrivateKeyFile), not both." -}}
{{- end -}}
{{- end -}}

{{/*
Non-secret settings, as a YAML map of variable name to value (ConfigMap data).
Unset values are left out so the service's own defaults apply.
*/}}
{{- define "oidc-session.configEnv" -}}
{{- $c := .Values.config -}}
{{- $r := $c.redis -}}
{{- $env := dict
  "OIDC_ISSUER_URL" $c.issuerUrl
  "OIDC_CLIENT_ID" $c.clientId
  "OIDC_CLIENT_AUTH_METHOD" $c.clientAuthMethod
  "OIDC_CLIENT_PRIVATE_KEY_FILE" (include "oidc-session.clientPrivateKeyFile" .)
  "OIDC_CLIENT_PRIVATE_KEY_ID" $c.clientPrivateKeyId
  "OIDC_CLIENT_ASSERTION_AUDIENCE" $c.clientAssertionAudience
  "OIDC_CLIENT_CERTIFICATE" $c.clientCertificate
  "OIDC_CLIENT_CERTIFICATE_FILE" $c.clientCertificateFile
  "OIDC_PAR" $c.par
  "OIDC_REDIRECT_URI" $c.redirectUri
  "OIDC_SCOPES" $c.scopes
  "OIDC_PROMPT" $c.prompt
  "OIDC_EXTRA_AUTH_PARAMS" $c.extraAuthParams
  "OIDC_DISCOVERY_URL" $c.discoveryUrl
  "OIDC_AUTHORIZATION_ENDPOINT" $c.authorizationEndpoint
  "OIDC_TOKEN_ENDPOINT" $c.tokenEndpoint
  "OIDC_USERINFO_ENDPOINT" $c.userinfoEndpoint
  "OIDC_JWKS_URI" $c.jwksUri
  "OIDC_END_SESSION_ENDPOINT" $c.endSessionEndpoint
  "OIDC_POST_LOGIN_REDIRECT_URI" $c.postLoginRedirectUri
  "OIDC_POST_LOGOUT_REDIRECT_URI" $c.postLogoutRedirectUri
  "OIDC_ALLOWED_RETURN_ORIGINS" $c.allowedReturnOrigins
  "OIDC_LISTEN_ADDR" (printf "%s:%d" .Values.listenHost (int .Values.containerPorts.public))
  "OIDC_INTERNAL_LISTEN_ADDR" (printf "%s:%d" .Values.listenHost (int .Values.containerPorts.internal))
  "OIDC_INTROSPECTION_EXPOSE_TOKENS" $c.introspectionExposeTokens
  "OIDC_REDIS_SENTINEL_MASTER" $r.sentinel.masterName
  "OIDC_REDIS_KEY_PREFIX" $r.keyPrefix
  "OIDC_SESSION_IDLE_TIMEOUT" $c.sessionIdleTimeout
  "OIDC_SESSION_MAX_LIFETIME" $c.sessionMaxLifetime
  "OIDC_LOGIN_TIMEOUT" $c.loginTimeout
  "OIDC_REFRESH_LEEWAY" $c.refreshLeeway
  "OIDC_CLOCK_SKEW" $c.clockSkew
  "OIDC_REVALIDATE" $c.revalidate
  "OIDC_MAX_SESSIONS_PER_USER" $c.maxSessionsPerUser
  "OIDC_MAX_CONNECTIONS" $c.maxConnections
  "OIDC_COOKIE_NAME" $c.cookieName
  "OIDC_COOKIE_SAMESITE" $c.cookieSameSite
  "OIDC_COOKIE_DOMAIN" $c.cookieDomain
  "OIDC_USERNAME_CLAIM" $c.usernameClaim
  "OIDC_EMAIL_CLAIM" $c.emailClaim
  "OIDC_GROUPS_CLAIM" $c.groupsClaim
  "OIDC_ALLOWED_GROUPS" $c.allowedGroups
  "OIDC_REQUIRE_EMAIL_VERIFIED" $c.requireEmailVerified
  "OIDC_FETCH_USERINFO" $c.fetchUserinfo
  "OIDC_HTTP_TIMEOUT" $c.httpTimeout
  "OIDC_EXTRA_CA_FILE" (include "oidc-session.extraCaFile" .)
  "OIDC_LOG_FORMAT" $c.logFormat
  "OIDC_LOG" $c.logLevel
  "OIDC_ASSERTION_KEY_FILE" $c.assertionKeyFile
  "OIDC_ASSERTION_KEY_ID" $c.assertionKeyId
  "OIDC_ASSERTION_LIFETIME" $c.assertionLifetime
  "OIDC_BEARER_AUDIENCES" $c.bearerAudiences
-}}
{{- range $name := keys $env | sortAlpha }}
{{- $v := index $env $name }}
{{- if include "oidc-session.isSet" $v }}
{{ $name }}: {{ include "oidc-session.asString" $v | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Secret settings given in values, as a YAML map of variable name to value (Secret
stringData). The dev Redis URL is here too: OIDC_REDIS_URL never goes to a ConfigMap.
*/}}
{{- define "oidc-session.secretEnv" -}}
{{- $c := .Values.config -}}
{{- $r := $c.redis -}}
{{- $redisUrl := $r.url -}}
{{- if and .Values.redis.enabled (not $redisUrl) -}}
{{- $redisUrl = printf "redis://%s.%s.svc:%d" (include "oidc-session.redisName" .) (include "oidc-session.namespace" .) (int .Values.redis.port) -}}
{{- end -}}
{{- $env := dict
  "OIDC_CLIENT_SECRET" $c.clientSecret
  "OIDC_CLIENT_PRIVATE_KEY" $c.clientPrivateKey
  "OIDC_ASSERTION_KEY" $c.assertionKey
  "OIDC_INTROSPECTION_SECRET" $c.introspectionSecret
  "OIDC_ADMIN_SECRET" $c.adminSecret
  "OIDC_SESSION_ENCRYPTION_KEY" $c.sessionEncryptionKey
  "OIDC_REDIS_URL" $redisUrl
  "OIDC_REDIS_SENTINELS" $r.sentinel.sentinels
  "OIDC_REDIS_SENTINEL_PASSWORD" $r.sentinel.password
  "OIDC_REDIS_CLUSTER_NODES" $r.cluster.nodes
-}}
{{- range $name := keys $env | sortAlpha }}
{{- $v := index $env $name }}
{{- if include "oidc-session.isSet" $v }}
{{ $name }}: {{ include "oidc-session.asString" $v | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Secret variables read from config.existingSecret (optional keys): those of
SECRET_VARS that values do not set. When values pick a Redis mode, the other modes'
variables are not read from it.
*/}}
{{- define "oidc-session.existingSecretVars" -}}
{{- if .Values.config.existingSecret -}}
{{- $given := include "oidc-session.secretEnv" . | fromYaml | default dict -}}
{{- $mode := include "oidc-session.redisMode" . -}}
{{- $candidates := list "OIDC_CLIENT_SECRET" "OIDC_INTROSPECTION_SECRET" "OIDC_ADMIN_SECRET" "OIDC_SESSION_ENCRYPTION_KEY" -}}
{{- if not .Values.config.assertionKeyFile -}}
{{- $candidates = append $candidates "OIDC_ASSERTION_KEY" -}}
{{- end -}}
{{- if not (include "oidc-session.clientPrivateKeyFile" .) -}}
{{- $candidates = append $candidates "OIDC_CLIENT_PRIVATE_KEY" -}}
{{- end -}}
{{- if or (eq $mode "") (eq $mode "standalone") -}}
{{- $candidates = append $candidates "OIDC_REDIS_URL" -}}
{{- end -}}
{{- if or (eq $mode "") (eq $mode "sentinel") -}}
{{- $candidates = concat $candidates (list "OIDC_REDIS_SENTINELS" "OIDC_REDIS_SENTINEL_PASSWORD") -}}
{{- end -}}
{{- if or (eq $mode "") (eq $mode "cluster") -}}
{{- $candidates = append $candidates "OIDC_REDIS_CLUSTER_NODES" -}}
{{- end -}}
{{- range $name := $candidates }}
{{- if not (hasKey $given $name) }}
- {{ $name }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The dev Redis has its own app name so no selector of the service matches it. */}}
{{- define "oidc-session.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "oidc-session.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oidc-session.redisLabels" -}}
helm.sh/chart: {{ include "oidc-session.chart" . }}
{{ include "oidc-session.redisSelectorLabels" . }}
app.kubernetes.io/component: dev-redis
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oidc-session
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
