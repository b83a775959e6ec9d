#!/usr/bin/env bash
# Real-mode speed comparison on this machine, in one run (issue 7, "Speed"):
#
#   HTTP: wrk -> fake upstream directly (baseline), wrk -> HAProxy -> upstream,
#         wrk -> meshsim sidecar (15001) -> upstream; same upstream, same load.
#         Beside them, two floors: the least a proxy on the sidecar's own
#         stack costs here (meshsim-floorproxy: hyper alone, and no HTTP
#         library at all), and every proxy's CPU time per request.
#   DNS:  dnsperf -> meshsim's DNS server, dnsperf -> dnsmasq; same records.
#
# Targets: the sidecar at or above HAProxy's requests/s with a lower added p99
# (p99 through the proxy minus the direct p99), meshsim-dns at or above
# dnsmasq's queries/s.
#
# Run:   bash benches/real_compare.sh
# Output: benches/runs/<date>-<host>/real_compare.md (printed too) and
#         real_compare-raw.txt (the tools' own output) beside it.
#
# What it does:
# 1. installs wrk, haproxy, dnsmasq-base (the dnsmasq binary without the
#    system service of package `dnsmasq`, which would start a resolver on
#    port 53) and dnsperf from Debian's packages when missing (apt-get;
#    sudo only when not root);
# 2. builds `meshsim-realbench` (benches/realbench.rs) in release and starts
#    it: upstream (HTTP/1.1 200, 64-byte body, keep-alive), sidecar (default
#    Istio outbound config, passthrough ORIGINAL_DST; 15001 accepts wrk's
#    connections without a PROXY header as captured ones to the upstream,
#    Envoy's `allow_requests_without_proxy_protocol`), DNS server; access
#    log off, no tracing output;
# 3. starts HAProxy configured the same way: mode http, one frontend on
#    127.0.0.1, one backend server = the same upstream, keep-alive on both
#    sides, `http-reuse always`, nbthread = THREADS, no logging; and dnsmasq
#    with the same A records (host-record, local-ttl 300), no-resolv,
#    no-hosts, no upstream servers, default cache, on 127.0.0.1;
#    and the two floor proxies (`meshsim-floorproxy`, benches/floorproxy.rs):
#    `hyper` (hyper's HTTP/1.1 server and client, nothing else) and `codec`
#    (httparse and a copy, no HTTP library), both on a current-thread
#    runtime and forwarding to the same upstream;
# 4. runs wrk (a short warm-up, then the measured run) against each HTTP
#    target and dnsperf against each DNS server, one after the other, ROUNDS
#    times in turn (direct, HAProxy, sidecar, floors, direct, ...), and
#    reports each figure's median over the rounds: interleaving spreads a
#    busy neighbour's load over all targets alike. During each measured wrk
#    run it reads the serving threads' user and system CPU time from /proc
#    (the proxy's threads; for the direct run, the upstream's), divided by
#    the requests wrk completed: CPU per request varies far less from round
#    to round than requests/s, and splits what the kernel costs (system,
#    the same socket calls for every proxy) from what the program costs.
# Everything listens and connects on 127.0.0.0/8 only. Every process the
# script starts is stopped when it exits, on success or failure (trap).
#
# Knobs (environment):
#   THREADS=1              sidecar runtime threads = HAProxy nbthread (1: a
#                          current-thread runtime, one event loop as Envoy's
#                          single worker)
#   ROUNDS=3               measured rounds (medians are reported)
#   WRK_THREADS=1 WRK_CONNECTIONS=32 WRK_DURATION=10s WRK_WARMUP=2s
#   BODY_BYTES=64          upstream response body
#   DNSPERF_SECONDS=10 DNSPERF_CLIENTS=4 DNSPERF_OUTSTANDING=100
#   DNSPERF_QPS=           empty: as fast as the server answers (-Q not set)
#   HAPROXY_PORT=18080 DNSMASQ_PORT=18053   loopback ports of the references
#   RUN_DIR=benches/runs/<date>-<host>      where the results go
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_WARMUP=${WRK_WARMUP:-2s}
BODY_BYTES=${BODY_BYTES:-64}
DNSPERF_SECONDS=${DNSPERF_SECONDS:-10}
DNSPERF_CLIENTS=${DNSPERF_CLIENTS:-4}
DNSPERF_OUTSTANDING=${DNSPERF_OUTSTANDING:-100}
DNSPERF_QPS=${DNSPERF_QPS:-}
HAPROXY_PORT=${HAPROXY_PORT:-18080}
DNSMASQ_PORT=${DNSMASQ_PORT:-18053}
RUN_DIR=${RUN_DIR:-benches/runs/$(date +%F)-$(hostname -s)}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d)
PIDS=()

cleanup() {
    exec 3>&- 2>/dev/null || true
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "real_compare: $*" >&2; }

install_tools() {
    local need=()
    command -v wrk >/dev/null || need+=(wrk)
    command -v haproxy >/dev/null || need+=(haproxy)
    command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
    command -v dnsperf >/dev/null || need+=(dnsperf)
    [ ${#need[@]} -eq 0 ] && return
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    log "installing ${need[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}"
}

# Starts meshsim-realbench; it serves until its stdin (fd 3 here) closes.
start_realbench() {
    log "building meshsim-realbench and meshsim-floorproxy (release)"
    cargo build --release -q -p meshsim-benches --bin meshsim-realbench --bin meshsim-floorproxy
    mkfifo "$WORK/ctl"
    "$TARGET_DIR/release/meshsim-realbench" --threads "$THREADS" --body-bytes "$BODY_BYTES" \
        <"$WORK/ctl" >"$WORK/realbench.json" 2>"$WORK/realbench.err" &
    PIDS+=($!)
    REALBENCH_PID=$!
    exec 3>"$WORK/ctl"
    local i
    for i in $(seq 100); do
        [ -s "$WORK/realbench.json" ] && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/realbench.err" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$WORK/realbench.json" ] || { log "meshsim-realbench printed no addresses"; exit 1; }
    UPSTREAM=$(json_field upstream)
    SIDECAR=$(json_field sidecar)
    MESHSIM_DNS=$(json_field dns)
    mapfile -t RECORDS < <(grep -o '"[a-z0-9.-]*/[0-9.]*"' "$WORK/realbench.json" | tr -d '"')
    log "upstream $UPSTREAM, sidecar $SIDECAR, dns $MESHSIM_DNS, ${#RECORDS[@]} records"
}

# Field $1 of the JSON line in file $2 (default: realbench's).
json_field() { grep -o "\"$1\":\"[^\"]*\"" "${2:-$WORK/realbench.json}" | cut -d'"' -f4; }

# Starts `meshsim-floorproxy --kind $1` in front of the upstream; sets
# FLOOR_<KIND> (its address) and FLOOR_<KIND>_PID. It serves until the
# control fifo's writer (fd 3) closes.
start_floor() {
    local kind=$1 out="$WORK/floor-$1.json" var i
    var=$(echo "FLOOR_$1" | tr '[:lower:]' '[:upper:]')
    "$TARGET_DIR/release/meshsim-floorproxy" --kind "$kind" --upstream "$UPSTREAM" \
        <"$WORK/ctl" >"$out" 2>"$WORK/floor-$kind.err" &
    PIDS+=($!)
    printf -v "${var}_PID" '%s' "$!"
    for i in $(seq 100); do
        [ -s "$out" ] && break
        kill -0 "$!" 2>/dev/null || { cat "$WORK/floor-$kind.err" >&2; exit 1; }
        sleep 0.1
    done
    printf -v "$var" '%s' "$(json_field listen "$out")"
    [ -n "${!var}" ] || { log "meshsim-floorproxy --kind $kind printed no address"; exit 1; }
    log "floor $kind: ${!var}"
}

start_haproxy() {
    cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread $THREADS
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend bench
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend upstream
backend upstream
    server upstream $UPSTREAM
EOF
    haproxy -c -q -f "$WORK/haproxy.cfg"
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=($!)
    wait_for_tcp 127.0.0.1 "$HAPROXY_PORT" || { cat "$WORK/haproxy.log" >&2; exit 1; }
}

start_dnsmasq() {
    local args=() r
    for r in "${RECORDS[@]}"; do
        args+=("--host-record=${r%/*},${r#*/}")
    done
    dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --listen-address=127.0.0.1 --bind-interfaces --port="$DNSMASQ_PORT" \
        --local-ttl=300 --pid-file= --user="$(id -un)" --log-facility="$WORK/dnsmasq.log" \
        "${args[@]}" &
    PIDS+=($!)
    sleep 0.5
    kill -0 "${PIDS[-1]}" 2>/dev/null || { log "dnsmasq did not start"; cat "$WORK/dnsmasq.log" >&2; exit 1; }
}

wait_for_tcp() {
    local i
    for i in $(seq 100); do
        (exec 9<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on $1:$2"
    return 1
}

# User and system CPU clock ticks so far of the threads of process $1
# whose name matches the awk regex $2 or, with $3 = "not", does not.
cpu_ticks() {
    local pid=$1 re=$2 neg=${3:-} t
    for t in /proc/"$pid"/task/*; do
        # Fields 14 and 15 of stat, counted after the parenthesised name.
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(sed 's/.*) //' "$t/stat" | cut -d' ' -f12,13)"
    done 2>/dev/null | awk -v re="$re" -v neg="$neg" '
        (neg == "not") != ($1 ~ re) { u += $2; s += $3 }
        END { print u + 0, s + 0 }'
}

# wrk against http://$2/ while measuring the CPU time of process $3's
# threads selected by $4 (and $5) as in cpu_ticks; prints
# "rps p50_ms p99_ms errors user_us_per_request system_us_per_request".
run_wrk() {
    local name=$1 target=$2 pid=$3 re=$4 neg=${5:-} out="$WORK/wrk-$1.txt" before after
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_WARMUP" "http://$target/" >/dev/null
    before=$(cpu_ticks "$pid" "$re" "$neg")
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency "http://$target/" >"$out"
    after=$(cpu_ticks "$pid" "$re" "$neg")
    { echo "=== wrk $name ($target); CPU ticks of its threads before: $before, after: $after"; cat "$out"; } >>"$WORK/raw.txt"
    awk -v before="$before" -v after="$after" -v hz="$CLK_TCK" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /Requests\/sec:/ { rps = $2 }
        / requests in / { requests = $1 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { errors += $NF }
        /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
        END {
            split(before, b, " "); split(after, a, " ")
            per = requests > 0 ? 1e6 / hz / requests : 0
            printf "%s %.3f %.3f %d %.2f %.2f\n", rps, p50, p99, errors, (a[1] - b[1]) * per, (a[2] - b[2]) * per
        }
    ' "$out"
}

# dnsperf against $2 (host:port); prints "qps avg_ms lost".
run_dnsperf() {
    local name=$1 server=$2 out="$WORK/dnsperf-$1.txt" qps=()
    [ -n "$DNSPERF_QPS" ] && qps=(-Q "$DNSPERF_QPS")
    dnsperf -s "${server%:*}" -p "${server##*:}" -d "$WORK/queries.txt" -l "$DNSPERF_SECONDS" \
        -c "$DNSPERF_CLIENTS" -q "$DNSPERF_OUTSTANDING" "${qps[@]}" >"$out" 2>&1
    { echo "=== dnsperf $name ($server)"; cat "$out"; } >>"$WORK/raw.txt"
    awk '
        /Queries per second:/ { qps = $4 }
        /Average Latency/ { avg = $4 * 1000 }
        /Queries lost:/ { lost = $3 }
        END { printf "%s %.3f %s\n", qps, avg, lost }
    ' "$out"
}

# Median of each column over the lines of file $1 (one line per round).
medians() {
    local n i out=()
    n=$(head -1 "$1" | wc -w)
    for i in $(seq "$n"); do
        out+=("$(cut -d' ' -f"$i" "$1" | sort -g | awk '{ v[NR] = $1 }
            END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')")
    done
    echo "${out[*]}"
}

# "min - max" of column $1 of the per-round table.
spread() { cut -d' ' -f"$1" "$WORK/rounds.txt" | sort -g | sed -n '1p;$p' | paste -sd' ' | awk '{ print $1 " - " $NF }'; }

minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { if (a >= b) print "met"; else print "not met" }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { if (a < b) print "met"; else print "not met" }'; }

setup_notes() {
    local cpu
    cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
    echo "- date: $(date -u '+%F %H:%M UTC'), host: $(hostname -s), CPU: ${cpu:-unknown} x $(nproc), kernel $(uname -r)"
    echo "- meshsim commit $COMMIT, $(rustc --version), release profile"
    echo "- $(haproxy -v | head -1 | cut -d' ' -f1-3), dnsmasq $(dnsmasq -v | head -1 | awk '{ print $3 }'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }')"
    echo "- wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency (after a $WRK_WARMUP warm-up); upstream body $BODY_BYTES B, HTTP/1.1 keep-alive"
    echo "- sidecar: $THREADS thread(s) ($([ "$THREADS" = 1 ] && echo 'a current-thread tokio runtime' || echo 'multi-thread tokio runtime')) (the upstream on a runtime of its own, 1 thread), access log off, no tracing subscriber; HAProxy nbthread $THREADS, no log"
    echo "- floors: meshsim-floorproxy --kind hyper and --kind codec, each on a current-thread tokio runtime (one thread), in front of the same upstream"
    echo "- load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares its cores)"
    echo "- dnsperf -l $DNSPERF_SECONDS -c $DNSPERF_CLIENTS -q $DNSPERF_OUTSTANDING${DNSPERF_QPS:+ -Q $DNSPERF_QPS}, ${#RECORDS[@]} A names in turn; both servers single-threaded"
}

main() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    # Results of earlier runs do not make the tree dirty.
    COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!benches/runs' || echo ' (dirty)')"
    install_tools
    start_realbench
    start_haproxy
    start_floor hyper
    start_floor codec
    start_dnsmasq
    local r
    for r in "${RECORDS[@]}"; do echo "${r%/*} A"; done >"$WORK/queries.txt"
    : >"$WORK/raw.txt"

    # The sidecar's threads are all of meshsim-realbench's but the
    # upstream's runtime ("upstream"), which serves the direct run.
    local round
    for round in $(seq "$ROUNDS"); do
        log "round $round/$ROUNDS: wrk direct, haproxy, sidecar, floor-hyper, floor-codec; dnsperf meshsim-dns, dnsmasq"
        run_wrk direct "$UPSTREAM" "$REALBENCH_PID" '^upstream' >>"$WORK/direct.txt"
        run_wrk haproxy "127.0.0.1:$HAPROXY_PORT" "$HAPROXY_PID" . >>"$WORK/haproxy.txt"
        run_wrk sidecar "$SIDECAR" "$REALBENCH_PID" '^upstream' not >>"$WORK/sidecar.txt"
        run_wrk floor-hyper "$FLOOR_HYPER" "$FLOOR_HYPER_PID" . >>"$WORK/floor-hyper.txt"
        run_wrk floor-codec "$FLOOR_CODEC" "$FLOOR_CODEC_PID" . >>"$WORK/floor-codec.txt"
        run_dnsperf meshsim-dns "$MESHSIM_DNS" >>"$WORK/meshsim-dns.txt"
        run_dnsperf dnsmasq "127.0.0.1:$DNSMASQ_PORT" >>"$WORK/dnsmasq.txt"
    done
    read -r d_rps d_p50 d_p99 d_err d_usr d_sys <<<"$(medians "$WORK/direct.txt")"
    read -r h_rps h_p50 h_p99 h_err h_usr h_sys <<<"$(medians "$WORK/haproxy.txt")"
    read -r s_rps s_p50 s_p99 s_err s_usr s_sys <<<"$(medians "$WORK/sidecar.txt")"
    read -r fh_rps fh_p50 fh_p99 fh_err fh_usr fh_sys <<<"$(medians "$WORK/floor-hyper.txt")"
    read -r fc_rps fc_p50 fc_p99 fc_err fc_usr fc_sys <<<"$(medians "$WORK/floor-codec.txt")"
    read -r m_qps m_avg m_lost <<<"$(medians "$WORK/meshsim-dns.txt")"
    read -r q_qps q_avg q_lost <<<"$(medians "$WORK/dnsmasq.txt")"

    # Per-round ratios: both sides of a ratio ran in the same round, under
    # the same background load. Columns of the paste: direct 1-6,
    # HAProxy 7-12, sidecar 13-18, floor-hyper 19-24, floor-codec 25-30,
    # meshsim-dns 31-33, dnsmasq 34-36.
    paste -d' ' "$WORK/direct.txt" "$WORK/haproxy.txt" "$WORK/sidecar.txt" \
        "$WORK/floor-hyper.txt" "$WORK/floor-codec.txt" \
        "$WORK/meshsim-dns.txt" "$WORK/dnsmasq.txt" |
        awk '{ printf "%d %s %s %s %.2f %.2f %s %s %.2f %s %s %.2f %.2f\n",
            NR, $1, $7, $13, $13 / $7, $15 / $9, $31, $34, $31 / $34,
            $19, $25, $13 / $19, $25 / $7 }' \
            >"$WORK/rounds.txt"
    local rps_ratio p99_ratio dns_ratio hyper_ratio codec_ratio
    cut -d' ' -f5,6,9,12,13 "$WORK/rounds.txt" >"$WORK/ratios.txt"
    read -r rps_ratio p99_ratio dns_ratio hyper_ratio codec_ratio <<<"$(medians "$WORK/ratios.txt")"
    local h_add s_add fh_add fc_add
    h_add=$(minus "$h_p99" "$d_p99")
    s_add=$(minus "$s_p99" "$d_p99")
    fh_add=$(minus "$fh_p99" "$d_p99")
    fc_add=$(minus "$fc_p99" "$d_p99")
    mkdir -p "$RUN_DIR"
    {
        echo "# Real-mode comparison: sidecar vs HAProxy, meshsim-dns vs dnsmasq"
        echo
        echo "Produced by \`bash benches/real_compare.sh\`."
        echo
        setup_notes
        echo
        echo "Each figure is the median of $ROUNDS rounds run in turn (per-round figures:"
        echo "\`real_compare-raw.txt\` beside this file)."
        echo
        echo "## HTTP/1.1 through a proxy (wrk)"
        echo
        echo "CPU is the serving threads' time during the measured run divided by the"
        echo "requests completed (µs per request; for the direct run, the upstream's)."
        echo
        echo "| path | requests/s | p50 (ms) | p99 (ms) | added p99 over direct (ms) | errors | CPU user (µs/req) | CPU system (µs/req) |"
        echo "|---|---|---|---|---|---|---|---|"
        echo "| direct: wrk -> upstream | $d_rps | $d_p50 | $d_p99 | - | $d_err | $d_usr | $d_sys |"
        echo "| wrk -> HAProxy -> upstream | $h_rps | $h_p50 | $h_p99 | $h_add | $h_err | $h_usr | $h_sys |"
        echo "| wrk -> meshsim sidecar -> upstream | $s_rps | $s_p50 | $s_p99 | $s_add | $s_err | $s_usr | $s_sys |"
        echo "| floor: hyper alone (meshsim-floorproxy --kind hyper) | $fh_rps | $fh_p50 | $fh_p99 | $fh_add | $fh_err | $fh_usr | $fh_sys |"
        echo "| floor: no HTTP library (meshsim-floorproxy --kind codec) | $fc_rps | $fc_p50 | $fc_p99 | $fc_add | $fc_err | $fc_usr | $fc_sys |"
        echo
        echo "## DNS (dnsperf, UDP)"
        echo
        echo "| server | queries/s | average latency (ms) | lost |"
        echo "|---|---|---|---|"
        echo "| meshsim-dns | $m_qps | $m_avg | $m_lost |"
        echo "| dnsmasq | $q_qps | $q_avg | $q_lost |"
        echo
        echo "## Per round"
        echo
        echo "| round | direct req/s | HAProxy req/s | sidecar req/s | sidecar / HAProxy req/s | sidecar / HAProxy p99 | meshsim-dns q/s | dnsmasq q/s | meshsim-dns / dnsmasq | floor-hyper req/s | floor-codec req/s | sidecar / floor-hyper req/s | floor-codec / HAProxy req/s |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$WORK/rounds.txt"
        echo
        echo "## Ratios and targets (median of the per-round ratios)"
        echo
        echo "| ratio | median (min - max) | target | status |"
        echo "|---|---|---|---|"
        echo "| sidecar / HAProxy requests/s | $rps_ratio ($(spread 5)) | >= 1 | $(at_least "$rps_ratio" 1) |"
        echo "| sidecar / HAProxy p99 (same direct baseline, so lower p99 = lower added p99) | $p99_ratio ($(spread 6)) | < 1 | $(below "$p99_ratio" 1) |"
        echo "| meshsim-dns / dnsmasq queries/s | $dns_ratio ($(spread 9)) | >= 1 | $(at_least "$dns_ratio" 1) |"
        echo
        echo "## What a proxy on this stack can reach here (no target)"
        echo
        echo "| ratio | median (min - max) | reads as |"
        echo "|---|---|---|"
        echo "| sidecar / floor-hyper requests/s | $hyper_ratio ($(spread 12)) | what meshsim's own work costs over hyper's server and client alone |"
        echo "| floor-codec / HAProxy requests/s | $codec_ratio ($(spread 13)) | a proxy with no features and no HTTP library against HAProxy: the most a Rust/tokio proxy gains here |"
        echo
        echo "CPU per request (medians, user + system µs): HAProxy $h_usr + $h_sys, sidecar $s_usr + $s_sys,"
        echo "floor-hyper $fh_usr + $fh_sys, floor-codec $fc_usr + $fc_sys."
    } >"$RUN_DIR/real_compare.md"
    cp "$WORK/raw.txt" "$RUN_DIR/real_compare-raw.txt"
    cat "$RUN_DIR/real_compare.md"
}

main "$@"
