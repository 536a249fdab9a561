#!/bin/sh
# Alternated A/B of `bench/api.ts` (issue #12's bound): the code in OLD_DIR (a worktree of the
# code before #12, e.g. `git worktree add ../vsb-old fbf1564`, its node_modules linked) against
# this checkout with HTTPS + sensor token and with --plain, ROUNDS times back to back, so that
# a load change on the machine hits all three alike. One line per run, then the medians.
# CPU µs per keep-alive at the fixed rate (proxy utime+stime / answers) is the figure least
# sensitive to other load; saturated keep-alives/s moves with whatever else runs.
#
# VSB_BENCH_PIN=1 puts each proxy on core 1 and its load on core 0 (taskset; the OLD_DIR's
# bench/api.ts needs the same `pinned()`), so the load generator's own TLS does not eat into
# the proxy's core on a 2-core machine.
#
#   [VSB_BENCH_PIN=1] bench/api_ab.sh OLD_DIR [ROUNDS=3] [SECONDS=8]
set -eu
old=${1:?usage: bench/api_ab.sh OLD_DIR [ROUNDS] [SECONDS]}
rounds=${2:-3}
seconds=${3:-8}
new=$(cd "$(dirname "$0")/.." && pwd)
bun=$new/node_modules/.bin/bun
out=$(mktemp)
run() { # LABEL DIR ARGS...
  label=$1; dir=$2; shift 2
  line=$(cd "$dir" && "$bun" bench/api.ts --seconds "$seconds" "$@" | tail -1)
  echo "$line" | jq -c --arg l "$label" '{run: $l, saturated: .requestsPerSecond, cpuUsPerKeepalive: ((.at10000PerSecond.proxyCpuPercent * 10000 / .at10000PerSecond.requestsPerSecond) | floor), p99MsAt10k: .at10000PerSecond.p99Ms, errors: (.errors + .at10000PerSecond.errors)}' | tee -a "$out"
}
i=0
while [ "$i" -lt "$rounds" ]; do
  run old "$old"
  run tls "$new"
  run plain "$new" --plain
  i=$((i + 1))
done
jq -s -c 'group_by(.run)[] | {run: .[0].run, saturated: (map(.saturated) | sort | .[length / 2 | floor]), cpuUsPerKeepalive: (map(.cpuUsPerKeepalive) | sort | .[length / 2 | floor]), runs: length}' "$out"
rm -f "$out"
