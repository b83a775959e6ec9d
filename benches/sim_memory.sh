#!/usr/bin/env bash
# Peak memory of a simulated run as the simulated duration grows: it should
# stay flat (histograms and counters, no per-request records).
# Run: bash benches/sim_memory.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq time
fi
cargo build --release -q -p meshsim-cli
for d in 15m 60m 240m; do
    /usr/bin/time -f "duration=$d max_rss_kb=%M wall_s=%e" \
        ./target/release/meshsim run scenarios/alb-ip-rotation.yaml \
        --mitigation resolution-dns+retries --duration "$d" --no-write >/dev/null
done
