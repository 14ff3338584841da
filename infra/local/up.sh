#!/usr/bin/env bash
# Starts the real services the integration tests use, on loopback, and writes .infra/env with their
# addresses (IT_* variables). Idempotent: what is already running is left as it is; downloads and builds
# are cached under .infra/cache. Slow steps (MinIO build, Kafka jars) run in parallel on a cold cache.
#   INFRA_STARTED_FILE=path  appends the names of the services this run started (for down.sh)
#   INFRA_SERVICES="postgres redis kafka minio"  subset to start
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES="${INFRA_SERVICES:-postgres redis kafka minio}"
t0=$SECONDS

# Media tools the tests drive (ffmpeg/sox make test audio, Chromium runs the e2e suite).
tools=()
command -v ffmpeg >/dev/null || tools+=(ffmpeg)
command -v sox >/dev/null || tools+=(sox)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || tools+=(chromium)
command -v curl >/dev/null || tools+=(curl)
((${#tools[@]} == 0)) || apt_install "${tools[@]}"

# Cold cache: fetch Kafka's jars and build MinIO side by side while the quick services start.
pids=()
# Kafka's jars are fetched even when a broker already answers: the outage test starts a broker of its own.
# (MinIO is not built for a port that already answers: up leaves that service alone.)
[[ " $SERVICES " == *" kafka "* ]] && { "$HERE/kafka.sh" fetch & pids+=($!); }
[[ " $SERVICES " == *" minio "* ]] && ! port_open "$MINIO_PORT" && { "$HERE/minio.sh" build & pids+=($!); }
[[ " $SERVICES " == *" postgres "* ]] && "$HERE/postgres.sh" up
[[ " $SERVICES " == *" redis "* ]] && "$HERE/redis.sh" up
for p in "${pids[@]}"; do wait "$p" || die "a download/build step failed (see $LOG_DIR)"; done
[[ " $SERVICES " == *" kafka "* ]] && "$HERE/kafka.sh" up
[[ " $SERVICES " == *" minio "* ]] && "$HERE/minio.sh" up

cat >"$INFRA_DIR/env" <<ENV
# Written by infra/local/up.sh: addresses of the local test services. \`source .infra/env\`
export IT_DATABASE_URL=postgres://postgres:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/postgres
export IT_REDIS_URL=redis://127.0.0.1:${REDIS_PORT}/0
export IT_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT}
export IT_S3_ENDPOINT=http://127.0.0.1:${MINIO_PORT}
export IT_S3_ACCESS_KEY=${S3_ACCESS_KEY}
export IT_S3_SECRET_KEY=${S3_SECRET_KEY}
export IT_S3_BUCKET=${S3_BUCKET}
ENV
log "services up in $((SECONDS - t0))s; addresses in $INFRA_DIR/env"
