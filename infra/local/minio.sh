#!/usr/bin/env bash
# MinIO (one S3 implementation among several; we speak plain S3 to it) on 127.0.0.1:$MINIO_PORT.
# Built from source with `go install` (its community edition ships no binaries), cached in .infra/cache/bin.
# Usage: minio.sh build|up|down
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="$CACHE_DIR/bin/minio"
# Machine-wide copy, so another checkout (CI clones afresh) skips the multi-minute build.
SHARED_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/music-platform-infra/minio"

build() {
  [[ -x "$BIN" ]] && return
  # Another checkout on this machine may have built it already (same Go module, same binary).
  for other in "${MINIO_BIN:-}" "$SHARED_BIN" "$(command -v minio || true)"; do
    if [[ -n "$other" && -x "$other" ]]; then cp "$other" "$BIN"; log "minio: reused $other"; return; fi
  done
  # Go is often installed outside PATH (/usr/local/go); MinIO needs Go >= 1.24 (Debian 12's golang is older).
  command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH"; }
  command -v go >/dev/null || die "MinIO is built from source and needs Go >= 1.24 (not found on PATH or in /usr/local/go)"
  # Serialise concurrent builds (up.sh builds in the background while other services start).
  exec 9>"$CACHE_DIR/minio-build.lock"
  flock 9
  [[ -x "$BIN" ]] && return
  log "minio: go install github.com/minio/minio@latest (first run only; a few minutes)"
  local t0=$SECONDS
  GOBIN="$CACHE_DIR/bin" GOFLAGS="-trimpath" CGO_ENABLED=0 go install github.com/minio/minio@latest >"$LOG_DIR/minio-build.log" 2>&1 \
    || die "building MinIO failed (see $LOG_DIR/minio-build.log)"
  log "minio: built in $((SECONDS - t0))s"
  mkdir -p "$(dirname "$SHARED_BIN")" && cp "$BIN" "$SHARED_BIN.tmp.$$" && mv "$SHARED_BIN.tmp.$$" "$SHARED_BIN" || true
}

ready() { curl -fsS -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready"; }

# Plain S3 CreateBucket, signed with SigV4 by curl: no MinIO-specific client needed.
make_bucket() {
  local url="http://127.0.0.1:$MINIO_PORT/$S3_BUCKET"
  if curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -I "$url" 2>/dev/null; then
    return
  fi
  # Health "ready" can come a moment before S3 calls are served (503 while MinIO initialises its drive):
  # retry for up to 30 s; a bucket that appeared meanwhile (409 on PUT) is fine too.
  local i
  for i in $(seq 1 60); do
    if curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -X PUT "$url" 2>/dev/null \
      || curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -I "$url" 2>/dev/null; then
      log "minio: bucket $S3_BUCKET created"
      return
    fi
    sleep 0.5
  done
  die "could not create bucket $S3_BUCKET (see $LOG_DIR/minio.log)"
}

up() {
  if running_pid minio >/dev/null; then log "minio: already running (started earlier by infra/local)"; make_bucket; return; fi
  if port_open "$MINIO_PORT"; then log "minio: port $MINIO_PORT already in use, assuming an S3 we may use"; make_bucket; return; fi
  command -v curl >/dev/null || apt_install curl
  build
  mkdir -p "$DATA_DIR_INFRA/minio"
  log "minio: starting on 127.0.0.1:$MINIO_PORT"
  MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" MINIO_BROWSER=off MINIO_UPDATE=off \
    nohup "$BIN" server --quiet --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
    "$DATA_DIR_INFRA/minio" >"$LOG_DIR/minio.log" 2>&1 &
  echo $! >"$(pidfile minio)"
  mark_started minio
  wait_for "minio" 60 ready || die "minio not ready (see $LOG_DIR/minio.log)"
  make_bucket
}

down() { stop_pid minio 15; }

case "${1:-up}" in
  build) build ;;
  up) up ;;
  down) down ;;
  *) die "usage: $0 build|up|down" ;;
esac
