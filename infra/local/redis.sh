#!/usr/bin/env bash
# Redis for integration tests on 127.0.0.1:$REDIS_PORT (Debian's redis-server), no persistence.
# Usage: redis.sh up|down
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

up() {
  if running_pid redis >/dev/null; then log "redis: already running (started earlier by infra/local)"; return; fi
  if port_open "$REDIS_PORT"; then log "redis: port $REDIS_PORT already in use, assuming a Redis we may use"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$DATA_DIR_INFRA/redis"
  log "redis: starting on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --daemonize yes \
    --pidfile "$(pidfile redis)" --dir "$DATA_DIR_INFRA/redis" --logfile "$LOG_DIR/redis.log" \
    --save "" --appendonly no --maxmemory 512mb --maxmemory-policy noeviction
  wait_for "redis" 20 port_open "$REDIS_PORT" || die "redis not answering on $REDIS_PORT (see $LOG_DIR/redis.log)"
  # --daemonize writes the pid file a moment after the port opens.
  wait_for "redis pid file" 5 test -s "$(pidfile redis)" || true
  mark_started redis
}

down() { stop_pid redis 10; }

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
