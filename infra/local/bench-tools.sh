#!/usr/bin/env bash
# The load generators and anchors `npm run bench -- edge` drives, from Debian: wrk and h2load
# (nghttp2-client) as clients, nginx and Varnish as anchors. Installs only what is missing; no service is
# left running (policy-rc.d refuses the packages' own service starts during the install, so no nginx
# on :80 or varnishd on :6081 appears as a side effect).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || need+=(nginx)
[[ -x /usr/sbin/varnishd ]] || need+=(varnish)
command -v taskset >/dev/null || need+=(util-linux)
((${#need[@]})) || exit 0

policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" && "$(id -u)" == 0 ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy" || true' EXIT
apt_install "${need[@]}"
