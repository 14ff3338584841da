#!/usr/bin/env bash
# Stops the services infra/local started (by pid file), never anything else.
#   down.sh                 stops every service with a live pid file
#   down.sh kafka minio     stops only those
#   INFRA_STARTED_FILE=path stops only the services listed in that file (what one up.sh run started)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if (($#)); then
  services=("$@")
elif [[ -n "${INFRA_STARTED_FILE:-}" ]]; then
  [[ -f "$INFRA_STARTED_FILE" ]] || { log "nothing was started by this run"; exit 0; }
  mapfile -t services < <(sort -u "$INFRA_STARTED_FILE")
  rm -f "$INFRA_STARTED_FILE"
else
  services=(minio kafka redis postgres)
fi
# Reverse start order: clients of the others first.
for s in minio kafka redis postgres; do
  for want in "${services[@]}"; do
    [[ "$want" == "$s" ]] && "$HERE/$s.sh" down
  done
done
exit 0
