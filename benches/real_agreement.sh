#!/usr/bin/env bash
# The full agreement of real mode with the simulation (issue 7): every
# catalogue scenario runs on kernel sockets on loopback, time-scaled, and
# simulated with the same seed; per mitigation, the verdict, the dominant
# error kind and the error rate (within 3 points or 25 %) are compared.
#
#   benches/real_agreement.sh [SCENARIO.yaml...]
#
# Environment: SCALE (default 0.02, wall seconds per scenario second; the
# table below overrides it per scenario unless SCALE is set),
# OUT (default benches/runs/<date>-<host>/real_agreement.md).
#
# Per-scenario scales: a run must keep up with its clock on this machine's
# cores. At 0.02 a scenario's request rate is 50 times faster in wall time;
# 6 hours of idle-timer incident would still take 36 minutes.
# Run it on a quiet machine: a real run shares the cores, and one that falls
# behind its clock says so on stderr (kept in the table's notes).
# Exit 0 when every mitigation agrees, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
FIXED_SCALE="${SCALE:-}"
SCALE="${SCALE:-0.02}"
scale_for() {
    [ -n "$FIXED_SCALE" ] && { echo "$FIXED_SCALE"; return; }
    case "$(basename "$1" .yaml)" in
        nat-idle-timeout) echo 0.002 ;;        # 6 h at 12 requests/h: 43 s per mitigation
        http2-refused-streams) echo 0.3 ;;     # 200 requests/s with a circuit breaker of 8: per-hop time at 0.1 overflows it
        mesh-chain-scale-down) echo 0.1 ;;     # three hops, a DNS lookup per request
        *) echo "$SCALE" ;;
    esac
}
OUT="${OUT:-benches/runs/$(date +%F)-$(hostname -s)/real_agreement.md}"
mkdir -p "$(dirname "$OUT")"
cargo build --release -q -p meshsim-cli
BIN=target/release/meshsim
if [ "$#" -gt 0 ]; then scenarios=("$@"); else scenarios=(scenarios/*.yaml); fi

status=0
{
    echo "# Real mode against the simulation, time scale $SCALE unless said"
    echo
    echo "$(nproc) cores, $(uname -sr), meshsim $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "Tolerance: verdict and dominant error kind equal (kinds compared from 20 errors),"
    echo "error rate within 3 points or 25 % of the simulated rate."
    echo
} > "$OUT"
for s in "${scenarios[@]}"; do
    echo "== $s" >&2
    start=$SECONDS
    log=$(mktemp)
    scale=$(scale_for "$s")
    "$BIN" run --real --time-scale "$scale" --agree --no-write "$s" > "$log.out" 2> "$log"
    rc=$?
    [ "$rc" -eq 0 ] || status=1
    {
        sed -n '/^### /,$p' "$log.out"
        echo "time scale $scale, wall time $((SECONDS - start)) s, exit $rc."
        behind=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep "fell behind its clock" \
            | grep -o 'mitigation="\?[^" ]*' | sed 's/mitigation="\?//' | sort -u | tr '\n' ' ')
        if [ -n "$behind" ]; then
            echo
            echo "> The real run fell behind its clock (its figures reflect the machine's load) in: $behind"
        fi
        if [ "$rc" -ge 2 ]; then
            echo
            echo '```'
            tail -5 "$log"
            echo '```'
        fi
        echo
    } >> "$OUT"
    rm -f "$log" "$log.out"
done
cat "$OUT"
echo "written: $OUT" >&2
exit $status
