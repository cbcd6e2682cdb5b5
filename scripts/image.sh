#!/usr/bin/env bash
# Builds the container image without a Docker engine, the way the Dockerfile's stages do,
# and runs it:
#   build    the static musl release binary with Cargo.toml's release profile and the
#            Dockerfile's settings (symbols stripped), for $(uname -m)-unknown-linux-musl,
#            with Debian's musl-tools as the C compiler (ring);
#   runtime  an OCI image FROM scratch holding what distroless/static-debian12:nonroot
#            gives the service (Debian's CA bundle, /etc/passwd and /etc/group with
#            nonroot 65532, /tmp, nonroot's home) plus the binary, with the Dockerfile's
#            labels, USER, EXPOSE and ENTRYPOINT; built with buildah (vfs storage);
#   checks   the config matches the Dockerfile's runtime stage, the root filesystem holds
#            nothing else, the compressed size is at most IMAGE_MAX_BYTES (15 MB); then the
#            unpacked image runs read-only, chrooted, as uid 65532, against Redis and the
#            test OpenID Provider: /readyz 200, a full sign-in, `check` exits 0, and
#            rediss:// trusted through OIDC_EXTRA_CA_FILE from a mounted file.
#
#   scripts/image.sh                  build and check
#   scripts/image.sh --print-config   the labels, user, ports and entrypoint it sets (JSON)
#
# Environment: IMAGE_TARGET_DIR (cargo's target dir for the musl build; default
# ${CARGO_TARGET_DIR:-target}/image, kept between runs: a first build took 11.5 minutes
# on 2 cores), IMAGE_OUT (where the OCI layout is written; default a temporary directory),
# IMAGE_MAX_BYTES (default 15000000). Needs root (buildah, chroot, mounts); installs
# buildah, umoci, musl-tools, redis-server, openssl and ca-certificates from Debian and the
# Rust musl target with rustup when missing. scripts/test.sh runs it unless SKIP_IMAGE=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# --- what the runtime image declares (the Dockerfile's runtime stage; image_check.py and
# helm/tests/test_image_script.py compare the two) ----------------------------------------
LABELS=(
  "org.opencontainers.image.title=oidc-session"
  "org.opencontainers.image.description=Sign in with any OpenID Connect provider; sessions in Redis"
  "org.opencontainers.image.licenses=Apache-2.0"
)
# The build stage's settings on top of Cargo.toml's release profile (the Dockerfile's ENV).
CARGO_ENV=(CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_TERM_COLOR=never)
IMAGE_USER=65532:65532
PORTS=(8080 9090)
ENTRYPOINT=/usr/local/bin/oidc-session
# The base image's own settings that distroless/static-debian12:nonroot carries.
BASE_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt)
BASE_WORKDIR=/home/nonroot

if [ "${1:-}" = --print-config ]; then
  python3 - "$IMAGE_USER" "$ENTRYPOINT" "${#LABELS[@]}" "${LABELS[@]}" "${#CARGO_ENV[@]}" "${CARGO_ENV[@]}" \
    "${PORTS[@]}" <<'EOF'
import json, sys
user, entry, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
labels, rest = rest[1:1 + int(rest[0])], rest[1 + int(rest[0]):]
cargo, ports = rest[1:1 + int(rest[0])], rest[1 + int(rest[0]):]
print(json.dumps({"labels": dict(l.split("=", 1) for l in labels), "user": user,
                  "ports": sorted(f"{p}/tcp" for p in ports), "entrypoint": [entry],
                  "build_env": dict(e.split("=", 1) for e in cargo)}))
EOF
  exit 0
fi
[ $# -eq 0 ] || { echo "image.sh: unknown argument $1 (see the comment at its top)" >&2; exit 2; }

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (buildah storage, chroot, mounts)"

# --- prerequisites -----------------------------------------------------------------------
missing=()
for tool in buildah:buildah umoci:umoci musl-gcc:musl-tools redis-server:redis-server openssl:openssl readelf:binutils curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v node >/dev/null || die "Node.js 20+ is needed (the test OpenID Provider)"
[ -d tests/provider/node_modules/oidc-provider ] || npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error
TARGET="$(uname -m)-unknown-linux-musl"
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

# --- build stage: as the Dockerfile's `build` stage --------------------------------------
TARGET_DIR=${IMAGE_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/image}
log "building the $TARGET release binary (CARGO_TARGET_DIR=$TARGET_DIR)"
env CARGO_TARGET_DIR="$TARGET_DIR" "${CARGO_ENV[@]}" \
  "CC_${TARGET//-/_}=musl-gcc" nice -n 10 cargo build --release --locked --quiet --target "$TARGET"
BINARY="$TARGET_DIR/$TARGET/release/oidc-session"

# --- scratch space and cleanup -------------------------------------------------------------
WORK=$(mktemp -d /tmp/oidc-session-image.XXXXXX)
STORAGE=(--storage-driver vfs --root "$WORK/storage" --runroot "$WORK/run")
PIDS=()
kill_tree() { # PID: it and every process below it
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null
}
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local status=$? pid
  set +e
  for pid in "${PIDS[@]}"; do kill_tree "$pid"; done
  wait 2>/dev/null
  # vfs layers are plain directories, some read-only to their owner: buildah removes them.
  buildah "${STORAGE[@]}" rm --all >/dev/null 2>&1
  buildah "${STORAGE[@]}" rmi --all --force >/dev/null 2>&1
  if [ $status -ne 0 ]; then
    log "logs kept in $WORK/logs"
    rm -rf "$WORK/storage" "$WORK/run" "$WORK/bundle"
  else
    rm -rf "$WORK"
  fi
  exit $status
}
trap cleanup EXIT
trap "exit 143" INT TERM # so that cleanup runs
mkdir -p "$WORK/logs"

# --- runtime stage: the base's content, then the Dockerfile's instructions -----------------
log "assembling the runtime image"
BASE="$WORK/base"
install -d -m 0755 "$BASE/etc/ssl/certs" "$BASE/usr/local/bin" "$BASE/home"
install -d -m 1777 "$BASE/tmp"
install -d -m 0700 -o 65532 -g 65532 "$BASE/home/nonroot"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$BASE/etc/ssl/certs/ca-certificates.crt"
# distroless's passwd and group (root, nobody, nonroot), no login shells.
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "$BASE/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' > "$BASE/etc/group"
chmod 0644 "$BASE/etc/passwd" "$BASE/etc/group"
install -m 0755 "$BINARY" "$BASE/usr/local/bin/oidc-session"

# One layer from a tar archive (ADD extracts it), so owners and modes stay as laid out above.
tar --numeric-owner -C "$BASE" -cf "$WORK/base.tar" etc home tmp usr
ctr=$(buildah "${STORAGE[@]}" from scratch)
buildah "${STORAGE[@]}" add --quiet "$ctr" "$WORK/base.tar" / >/dev/null
config=(--user "$IMAGE_USER" --entrypoint "[\"$ENTRYPOINT\"]" --cmd "" --workingdir "$BASE_WORKDIR")
for l in "${LABELS[@]}"; do config+=(--label "$l"); done
for p in "${PORTS[@]}"; do config+=(--port "$p/tcp"); done
for e in "${BASE_ENV[@]}"; do config+=(--env "$e"); done
buildah "${STORAGE[@]}" config "${config[@]}" "$ctr"
buildah "${STORAGE[@]}" commit --quiet --identity-label=false --format oci "$ctr" localhost/oidc-session:image-sh >/dev/null

OUT=${IMAGE_OUT:-$WORK/oci}
if [ -e "$OUT" ]; then
  [ -f "$OUT/oci-layout" ] || die "IMAGE_OUT=$OUT exists and is not an OCI layout: not overwriting it"
  rm -rf "$OUT"
fi
buildah "${STORAGE[@]}" push --quiet localhost/oidc-session:image-sh "oci:$OUT:oidc-session" >/dev/null

# --- checks of the image itself ------------------------------------------------------------
manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$OUT/index.json")
config_blob=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"].split(":")[1])' "$OUT/blobs/sha256/$manifest")
python3 scripts/image_check.py compare-config "$OUT/blobs/sha256/$config_blob"
# What a registry stores and a node pulls: the compressed layer, config and manifest.
size=$(python3 -c '
import json, os, sys
blobs = sys.argv[1] + "/blobs/sha256/"
m = json.load(open(blobs + sys.argv[2]))
print(sum(d["size"] for d in m["layers"]) + m["config"]["size"] + os.path.getsize(blobs + sys.argv[2]))' "$OUT" "$manifest")
max=${IMAGE_MAX_BYTES:-15000000}
log "compressed image size: $size bytes ($(python3 -c "print(f'{$size/1e6:.1f}')") MB; limit $max)"
[ "$size" -le "$max" ] || die "the image is $size bytes compressed, over $max"

BUNDLE="$WORK/bundle"
umoci unpack --image "$OUT:oidc-session" "$BUNDLE" >/dev/null
ROOTFS="$BUNDLE/rootfs"
python3 scripts/image_check.py contents "$ROOTFS"

# --- running it ----------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL STATUS PID: until URL answers STATUS, while PID lives
  local _
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

REDIS_PORT=$(free_port) REDIS_TLS_PORT=$(free_port) PUBLIC=$(free_port) INTERNAL=$(free_port)
PUB="http://127.0.0.1:$PUBLIC" INT="http://127.0.0.1:$INTERNAL"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/logs/redis.log" 2>&1 &
PIDS+=($!)

# A private CA and a Redis server certificate for 127.0.0.1, as tests/support/tls.rs makes them.
CERTS="$WORK/certs"
mkdir -p "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=image test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$CERTS/ca-key.pem" -out "$CERTS/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=redis test server" \
  -keyout "$CERTS/server-key.pem" -out "$CERTS/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$CERTS/ext"
openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca-key.pem" -CAcreateserial \
  -days 1 -extfile "$CERTS/ext" -out "$CERTS/server.pem" 2>/dev/null
redis-server --port 0 --tls-port "$REDIS_TLS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --tls-cert-file "$CERTS/server.pem" --tls-key-file "$CERTS/server-key.pem" --tls-ca-cert-file "$CERTS/ca.pem" \
  --tls-auth-clients no >"$WORK/logs/redis-tls.log" 2>&1 &
PIDS+=($!)
# What the container gets mounted: the CA certificate only.
MOUNTED="$WORK/mounted"
install -d -m 0755 "$MOUNTED" && install -m 0644 "$CERTS/ca.pem" "$MOUNTED/ca.pem"

export TEST_OP_CONFIG="{\"port\": 0, \"clients\": [{\"client_id\": \"image\", \"token_endpoint_auth_method\": \"none\",
  \"redirect_uris\": [\"$PUB/auth/callback\"], \"post_logout_redirect_uris\": [\"$PUB/\"]}]}"
mkfifo "$WORK/provider-in"
node tests/provider/provider.mjs <"$WORK/provider-in" >"$WORK/provider.out" 2>"$WORK/logs/provider.log" &
PIDS+=($!)
exec 9>"$WORK/provider-in" # held open: the provider exits when its stdin closes
for _ in $(seq 100); do grep -q '^READY ' "$WORK/provider.out" && break; sleep 0.2; done
ISSUER=$(sed -n 's/^READY //p' "$WORK/provider.out")
[ -n "$ISSUER" ] || die "the test provider did not start: $(cat "$WORK/logs/provider.log")"

# The image's entrypoint, in a private mount namespace: the root filesystem bind-mounted
# read-only, the CA directory mounted on /tmp (read-only too), chrooted, as uid/gid 65532,
# with the image's environment plus the service's settings. Nothing of the host is
# reachable inside: the binary must be static and alone.
in_image() { # LOG TIMEOUT REDIS_URL EXTRA_CA [ARGS...]: the entrypoint, in the foreground
  local logf=$1 limit=$2 redis_url=$3 extra_ca=$4
  shift 4
  local run=(env -i "${BASE_ENV[@]}" HOME=/home/nonroot OIDC_ISSUER_URL="$ISSUER" OIDC_CLIENT_ID=image
    OIDC_REDIRECT_URI="$PUB/auth/callback" OIDC_POST_LOGOUT_REDIRECT_URI="$PUB/" OIDC_PROMPT=consent
    OIDC_REDIS_URL="$redis_url" OIDC_LISTEN_ADDR="127.0.0.1:$PUBLIC" OIDC_INTERNAL_LISTEN_ADDR="127.0.0.1:$INTERNAL"
    OIDC_LOG=warn)
  [ -z "$extra_ca" ] || run+=(OIDC_EXTRA_CA_FILE="$extra_ca")
  run+=(chroot --userspec=65532:65532 --groups=65532 "$ROOTFS" "$ENTRYPOINT" "$@")
  # shellcheck disable=SC2016 # expanded by that sh, from its arguments
  timeout "$limit" unshare --mount --propagation private -- sh -c '
    set -e
    root=$1 mounted=$2; shift 2
    mount --bind "$root" "$root" && mount -o remount,bind,ro "$root"
    mount --bind "$mounted" "$root/tmp" && mount -o remount,bind,ro "$root/tmp"
    cd "$root"
    exec "$@"' in-image "$ROOTFS" "$MOUNTED" "${run[@]}" >"$logf" 2>&1
}
service_pid() { # PID: the oidc-session process below PID
  local p
  for p in $(pgrep -P "$1" || true); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = oidc-session ]; then echo "$p"; return 0; fi
    service_pid "$p" && return 0
  done
  return 1
}
# The running service is uid 65532, chrooted into the image, on a read-only root.
check_confined() { # PID
  local ids root_opts
  ids=$(awk '/^Uid:|^Gid:/ {print $2, $3, $4, $5}' "/proc/$1/status" | sort -u)
  [ "$ids" = "65532 65532 65532 65532" ] || die "the service runs with uid/gid $ids, not 65532"
  [ "$(readlink "/proc/$1/root")" = "$ROOTFS" ] || die "the service's root is $(readlink "/proc/$1/root"), not the image"
  root_opts=$(awk '$5 == "/" {print $6}' "/proc/$1/mountinfo" | tail -1)
  case ",$root_opts," in *,ro,*) ;; *) die "the service's root is mounted $root_opts, not read-only" ;; esac
  log "the service runs as 65532:65532, chrooted into the image, root read-only"
}
serve() { # LOG REDIS_URL EXTRA_CA: the service in the background until /readyz is 200; sets SVC
  in_image "$1" 0 "$2" "$3" &
  OUTER=$!
  PIDS+=("$OUTER")
  wait_http "$INT/readyz" 200 "$OUTER" || die "/readyz never answered 200: $(cat "$1")"
  SVC=$(service_pid "$OUTER") || die "no oidc-session process below $OUTER"
  PIDS+=("$SVC")
}
stop_service() { # SIGTERM, as a container runtime stops it: the service drains and exits 0
  local status=0
  kill "$SVC"
  wait "$OUTER" || status=$?
  [ $status -eq 0 ] || die "after SIGTERM the service exited $status"
}
sign_in() {
  python3 scripts/image_check.py sign-in --start "$PUB/auth/login?return_to=/signed-in" --done "$PUB/signed-in" \
    --internal "$INT"
}

log "run 1: the entrypoint against plain Redis: /readyz, a full sign-in"
serve "$WORK/logs/service.log" "redis://127.0.0.1:$REDIS_PORT" ""
check_confined "$SVC"
sign_in
stop_service

log "run 2: \`check\` with the same settings"
in_image "$WORK/logs/check.log" 120 "redis://127.0.0.1:$REDIS_PORT" "" check \
  || die "check exited $?: $(cat "$WORK/logs/check.log")"
log "check exited 0 ($(grep -c PROBLEM "$WORK/logs/check.log" || true) PROBLEM lines)"

log "run 3: rediss:// without the private CA is refused at start (status 2)"
status=0
in_image "$WORK/logs/untrusted.log" 60 "rediss://127.0.0.1:$REDIS_TLS_PORT" "" || status=$?
[ $status -eq 2 ] || die "against an untrusted Redis certificate the service exited $status, not 2: $(cat "$WORK/logs/untrusted.log")"
grep -q OIDC_EXTRA_CA_FILE "$WORK/logs/untrusted.log" || die "the refusal does not name OIDC_EXTRA_CA_FILE"

log "run 4: rediss:// trusted through OIDC_EXTRA_CA_FILE=/tmp/ca.pem (a mounted file): /readyz, a full sign-in"
serve "$WORK/logs/service-tls.log" "rediss://127.0.0.1:$REDIS_TLS_PORT" /tmp/ca.pem
sign_in
stop_service
exec 9>&-

log "ok: image built ($size bytes compressed) and run read-only as 65532: readyz, sign-in, check, rediss with a mounted CA"
