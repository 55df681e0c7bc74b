#!/usr/bin/env bash
# Side-by-side SIPp benchmark: siprd and (when installed) Kamailio 5.6 -x tlsf,
# same cfg, same load, through the shared harness (../shared/bench).
# Prints server CPU seconds per 100,000 requests for each server.
#
#   bench/run.sh                               # stateless_options,stateless_invite_404
#   bench/run.sh --scenario all                # every scenario of the harness
#   bench/run.sh --scenario stateless_options --quick
#   HARNESS=/path/to/bench bench/run.sh ...    # another copy of the harness
#
# Needs: python3, sipp (apt-get install sip-tester); kamailio is optional
# (apt-get install kamailio kamailio-extra-modules).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$root/../shared/bench}
scenario=stateless_options,stateless_invite_404
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[ -x "$harness/run.sh" ] || { echo "bench harness not found at $harness (set HARNESS=)"; exit 2; }
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester"; exit 2; }

cargo build --release -p siprd --manifest-path "$root/Cargo.toml"
out=${TMPDIR:-/tmp}/kbench-results
runs=()
newest() { ls -dt "$out/$1"-* 2>/dev/null | head -n 1; }

"$harness/run.sh" --server "$root/target/release/siprd -f {cfg}" --label siprd --scenario "$scenario" --out "$out" "${extra[@]}"
runs+=("$(newest siprd)")
if command -v kamailio >/dev/null; then
  "$harness/run.sh" --server 'kamailio -x tlsf -f {cfg} -DD -E' --label kamailio --scenario "$scenario" --out "$out" "${extra[@]}"
  runs+=("$(newest kamailio)")
else
  echo "kamailio not installed: siprd figures only"
fi
python3 "$harness/report.py" "${runs[@]}"
