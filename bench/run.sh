#!/usr/bin/env bash
# Side-by-side SIPp benchmark: siprd and (when installed) Kamailio 5.6 -x tlsf,
# same cfg, same load. Scenarios are the shared harness's (../shared/bench)
# or ours (bench/scenarios/NAME, run by bench/local.py through the harness).
# Prints server CPU seconds per 100,000 calls for each server.
#
#   bench/run.sh                               # stateless_options,stateless_invite_404,tm_invite_404,proxy_call,async_sleep_10k
#   bench/run.sh --scenario all                # every scenario of the harness and ours
#   bench/run.sh --scenario proxy_call --quick
#   HARNESS=/path/to/bench bench/run.sh ...    # another copy of the harness
#
# Needs: python3, sipp (apt-get install sip-tester); kamailio is optional
# (apt-get install kamailio kamailio-extra-modules).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${HARNESS:-$root/../shared/bench}
# a git worktree one level deeper than the main checkout
[ -x "$harness/run.sh" ] || harness=${HARNESS:-$root/../../shared/bench}
scenario=stateless_options,stateless_invite_404,tm_invite_404,proxy_call,async_sleep_10k
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[ -x "$harness/run.sh" ] || { echo "bench harness not found at $harness (set HARNESS=)"; exit 2; }
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester"; exit 2; }
export HARNESS=$harness

ours=() theirs=()
if [ "$scenario" = all ]; then
  theirs=(all)
  for d in "$root"/bench/scenarios/*/; do ours+=("$(basename "$d")"); done
else
  IFS=, read -ra names <<< "$scenario"
  for n in "${names[@]}"; do
    if [ -f "$root/bench/scenarios/$n/scenario.py" ]; then ours+=("$n"); else theirs+=("$n"); fi
  done
fi
join() { local IFS=,; echo "$*"; }

cargo build --release -p siprd --bin siprd --example evapi_count --manifest-path "$root/Cargo.toml"
siprd=${CARGO_TARGET_DIR:-$root/target}/release/siprd
out=${TMPDIR:-/tmp}/kbench-results
newest() { ls -dt "$out/$1"-* 2>/dev/null | head -n 1; }

servers=("$siprd -f {cfg}|siprd")
if command -v kamailio >/dev/null; then
  servers+=("kamailio -x tlsf -f {cfg} -DD -E|kamailio")
else
  echo "kamailio not installed: siprd figures only"
fi
runs=() local_runs=()
for s in "${servers[@]}"; do
  cmd=${s%|*} label=${s#*|}
  if [ ${#theirs[@]} -gt 0 ]; then
    "$harness/run.sh" --server "$cmd" --label "$label" --scenario "$(join "${theirs[@]}")" --out "$out" "${extra[@]}"
    runs+=("$(newest "$label")")
  fi
  if [ ${#ours[@]} -gt 0 ]; then
    python3 "$root/bench/local.py" --server "$cmd" --label "$label-local" --scenario "$(join "${ours[@]}")" --out "$out" "${extra[@]}"
    local_runs+=("$(newest "$label-local")")
  fi
done
[ ${#runs[@]} -gt 0 ] && python3 "$harness/report.py" "${runs[@]}"
[ ${#local_runs[@]} -gt 0 ] && python3 "$root/bench/local.py" report "${local_runs[@]}"
exit 0
