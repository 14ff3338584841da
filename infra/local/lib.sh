# Shared helpers for infra/local (sourced, not run). Everything lives under $INFRA_DIR (.infra/ at the
# repo root): cache/ (downloads and builds, kept across runs), data/ (service state), run/ (pid files,
# leases), logs/. Each service script answers `up` and `down` and only ever stops what a pid file says it
# started.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra}"
CACHE_DIR="$INFRA_DIR/cache"
DATA_DIR_INFRA="$INFRA_DIR/data"
RUN_DIR="$INFRA_DIR/run"
LOG_DIR="$INFRA_DIR/logs"
mkdir -p "$CACHE_DIR/bin" "$DATA_DIR_INFRA" "$RUN_DIR" "$LOG_DIR"

# Loopback ports of the test services (CONTRACT: tests get them as IT_* variables), below Linux's default
# ephemeral range so that no outgoing connection (npm, Maven, a load test's clients) can be holding one.
PG_PORT="${IT_PG_PORT:-25432}"
REDIS_PORT="${IT_REDIS_PORT:-26379}"
KAFKA_PORT="${IT_KAFKA_PORT:-29092}"
KAFKA_CONTROLLER_PORT="${IT_KAFKA_CONTROLLER_PORT:-29093}"
MINIO_PORT="${IT_MINIO_PORT:-29000}"
MINIO_CONSOLE_PORT="${IT_MINIO_CONSOLE_PORT:-29001}"

PG_PASSWORD="platform-test"
S3_ACCESS_KEY="platformtest"
S3_SECRET_KEY="platformtest-secret-key"
S3_BUCKET="platform-test"

log() { printf '[infra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for <what> <seconds> <command...>: polls the command until it succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.3
  done
  log "$what is ready"
}

# wait_port_unused <what> <port>: waits (up to 75 s) while a local TCP socket still holds the port. The ports
# above sit below Linux's default ephemeral range (32768-60999): when they sat inside it, an outgoing
# connection once held 59092 and Kafka's listener failed with "Address already in use". The wait covers a
# machine whose ephemeral range is wider, or a client that bound one of them on purpose.
wait_port_unused() {
  local what="$1" port="$2" deadline=$((SECONDS + 75)) said=0
  command -v ss >/dev/null || return 0
  while [[ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]]; do
    if ((said == 0)); then log "$what: port $port is held by another socket (a client's TIME_WAIT?): waiting up to 75 s"; said=1; fi
    if ((SECONDS >= deadline)); then log "$what: port $port still held after 75 s: starting anyway"; return 0; fi
    sleep 1
  done
}

pidfile() { echo "$RUN_DIR/$1.pid"; }

# Pid from the service's pid file when that process is alive.
running_pid() {
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  rm -f "$f"
  return 1
}

# stop_pid <name> [timeout]: TERM the pid of our pid file, KILL after the timeout, remove the file.
stop_pid() {
  local name="$1" secs="${2:-20}" pid
  if ! pid="$(running_pid "$name")"; then
    log "$name: not started by infra/local (no live pid file), leaving it alone"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name (pid $pid) did not stop in ${secs}s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pidfile "$name")"
  log "$name stopped"
}

# Record that this invocation started a service (up.sh tells its caller which ones to stop later).
mark_started() {
  if [[ -n "${INFRA_STARTED_FILE:-}" ]]; then echo "$1" >>"$INFRA_STARTED_FILE"; fi
}

APT_UPDATED=0
# apt_install <package...>: installs what is missing (one `apt-get update` per run, only when needed).
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    $sudo apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed (see $LOG_DIR/apt.log)"
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed (see $LOG_DIR/apt.log)"
}

# PostgreSQL refuses to run as root; the `postgres` user must be able to walk down to its data folder.
make_traversable() {
  local dir; dir="$(dirname "$1")"
  while [[ "$dir" != "/" ]]; do
    if [[ "$(stat -c %u "$dir")" == 0 ]] && [[ "$(( 0$(stat -c %a "$dir") & 1 ))" == 0 ]]; then
      chmod o+x "$dir"
    fi
    dir="$(dirname "$dir")"
  done
}
