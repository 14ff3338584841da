#!/usr/bin/env bash
# PostgreSQL for integration tests on 127.0.0.1:$PG_PORT, from Debian's packages, data under .infra/data.
# Usage: postgres.sh up|down|url
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGDATA="$DATA_DIR_INFRA/postgres"
URL="postgres://postgres:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/postgres"

pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [[ -n "$d" && -x "$d/postgres" ]] && { echo "$d"; return; }
  return 1
}

as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

up() {
  if running_pid postgres >/dev/null; then log "postgres: already running (started earlier by infra/local)"; return; fi
  if port_open "$PG_PORT"; then log "postgres: port $PG_PORT already in use, assuming a PostgreSQL we may use"; return; fi
  local bin
  if ! bin="$(pg_bindir)"; then apt_install postgresql; bin="$(pg_bindir)" || die "no PostgreSQL binaries after installing"; fi
  # Debian's package starts a cluster of its own on 5432; ours is separate and never touches it.
  if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    log "postgres: initdb in $PGDATA"
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    make_traversable "$PGDATA"
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    local pw; pw="$(mktemp)"; echo "$PG_PASSWORD" >"$pw"; chmod 644 "$pw"
    as_postgres "$bin/initdb" -D "$PGDATA" -U postgres --auth=scram-sha-256 --pwfile="$pw" --encoding=UTF8 --locale=C >"$LOG_DIR/postgres-initdb.log" 2>&1 \
      || { rm -f "$pw"; die "initdb failed (see $LOG_DIR/postgres-initdb.log)"; }
    rm -f "$pw"
  fi
  make_traversable "$PGDATA"
  [[ "$(id -u)" == 0 ]] && chown -R postgres:postgres "$PGDATA"
  touch "$LOG_DIR/postgres.log"; [[ "$(id -u)" == 0 ]] && chown postgres "$LOG_DIR/postgres.log"
  log "postgres: starting on 127.0.0.1:$PG_PORT"
  # A throwaway test server: durability off for speed (fsync, full page writes, synchronous commit).
  as_postgres "$bin/pg_ctl" -D "$PGDATA" -l "$LOG_DIR/postgres.log" -w -t 60 start -o "\
    -p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c wal_level=logical -c max_connections=300 -c max_replication_slots=20 -c max_wal_senders=20 \
    -c fsync=off -c full_page_writes=off -c synchronous_commit=off" >/dev/null \
    || die "postgres did not start (see $LOG_DIR/postgres.log)"
  head -1 "$PGDATA/postmaster.pid" >"$(pidfile postgres)"
  mark_started postgres
  wait_for "postgres" 30 port_open "$PG_PORT" || die "postgres not answering on $PG_PORT"
}

down() { stop_pid postgres 30; }

case "${1:-up}" in
  up) up ;;
  down) down ;;
  url) echo "$URL" ;;
  *) die "usage: $0 up|down|url" ;;
esac
