#!/usr/bin/env bash
# The full agreement of real mode with the simulation (issue 7): every
# catalogue scenario runs on kernel sockets on loopback, time-scaled, and
# simulated with the same seed; per mitigation, the verdict, the dominant
# error kind and the error rate (within 3 points or 25 %) are compared.
#
#   benches/real_agreement.sh [SCENARIO.yaml...]
#
# Environment: SCALE (default 0.02, wall seconds per scenario second),
# OUT (default benches/runs/<date>-<host>/real_agreement.md).
# Run it on a quiet machine: a real run shares the cores, and one that falls
# behind its clock says so on stderr (kept in the table's notes).
# Exit 0 when every mitigation agrees, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
SCALE="${SCALE:-0.02}"
OUT="${OUT:-benches/runs/$(date +%F)-$(hostname -s)/real_agreement.md}"
mkdir -p "$(dirname "$OUT")"
cargo build --release -q -p meshsim-cli
BIN=target/release/meshsim
if [ "$#" -gt 0 ]; then scenarios=("$@"); else scenarios=(scenarios/*.yaml); fi

status=0
{
    echo "# Real mode against the simulation, time scale $SCALE"
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
    "$BIN" run --real --time-scale "$SCALE" --agree --no-write "$s" > "$log.out" 2> "$log"
    rc=$?
    [ "$rc" -eq 0 ] || status=1
    {
        sed -n '/^### /,$p' "$log.out"
        echo "wall time $((SECONDS - start)) s, exit $rc."
        if grep -q "fell behind its clock" "$log"; then
            echo
            echo "> The real run fell behind its clock in: $(grep -o 'mitigation="[^"]*"\|mitigation=[^ ]*' "$log" | sort -u | tr '\n' ' ')"
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
