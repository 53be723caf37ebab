#!/usr/bin/env bash
# Long kill -9 soak of the crash loops (tests/tests/reliability_crash_loop.rs):
# every configuration (RocketMQ / DLedger x sync / async x roll / expiry /
# truncate) is killed and recovered over and over for MINUTES in total
# (default 10), then the per-configuration figures are printed.
#
#   scripts/soak.sh [MINUTES]
#
# ROCKETLOG_CRASH_KILLS sets a minimum number of kills per configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
minutes="${1:-10}"
configs=8
threads=2
# The configurations run two at a time: each gets its share of the wall time.
secs=$(( minutes * 60 * threads / configs ))
[ "$secs" -ge 1 ] || secs=1
echo "soak: ${minutes} min, ${configs} configurations, ${secs} s each, ${threads} at a time"
log="$(mktemp)"
status=0
ROCKETLOG_SOAK_SECS="$secs" cargo test -q -p rocketlog-tests --test reliability_crash_loop \
  -- --nocapture --test-threads="$threads" 2>&1 | tee "$log" | grep -E "crash-loop:|test result|panicked|violation" || status=$?
echo
echo "== totals"
awk '/crash-loop:/ {
  for (i = 1; i <= NF; i++) {
    split($i, kv, "=");
    if (kv[1] == "kills") k += kv[2];
    if (kv[1] == "acks") a += kv[2];
    if (kv[1] == "acked-records-verified") v += kv[2];
    if (kv[1] == "records-scanned") s += kv[2];
    if (kv[1] == "violations") x += kv[2];
    if (kv[1] == "truncations") t += kv[2];
  }
  if (match($0, /in recovery [0-9]+/)) r += substr($0, RSTART + 12, RLENGTH - 12);
}
END { printf "kills=%d (in recovery %d) acks=%d truncations=%d acked-records-verified=%d records-scanned=%d violations=%d\n", k, r, a, t, v, s, x }' "$log"
if grep -q "test result: ok" "$log" && [ "$status" -eq 0 ]; then
  echo "soak: PASS"
else
  echo "soak: FAIL (full log: $log)"
  exit 1
fi
