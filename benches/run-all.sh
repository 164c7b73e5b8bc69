#!/usr/bin/env bash
# Runs every benchmark (node/runtime/examples/bench_*.rs, and the soak on request) from one release
# build and prints a summary of every `BUDGET <name> <figure> <budget> PASS|MISS` line.
#
#   benches/run-all.sh [--quick] [--with-soak[=SECONDS]] [--no-build]
#
#   --quick               skip the long benches (scope3: 1,000,000 lines; dashboard and
#                         monitor: headless Chromium; publish: 1,000,000 footprints, ~1 GB of
#                         scratch files in target/) and shorten the soak to 60 s unless
#                         SECONDS is given
#   --with-soak[=SECONDS] also run node/runtime/examples/soak.rs for SECONDS measured (default 600)
#   --no-build            run the binaries already in $CARGO_TARGET_DIR/release
#
# Figures only: a MISS does not fail the run; a bench that fails to run does (exit 1).
# The machine may be shared: the load average is printed before and after, and each
# throughput budget is a ratio to a baseline measured in the same run where the issue gives
# one. Logs go to $CARGO_TARGET_DIR/bench-logs/<time>/ (target/ by default).
set -euo pipefail

cd "$(dirname "$0")/.."
quick=0
soak=""
build=1
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --with-soak) soak=default ;;
        --with-soak=*) soak="${arg#--with-soak=}" ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "run-all.sh: unknown option $arg (see --help)" >&2
            exit 2
            ;;
    esac
done
if [ "$soak" = default ]; then
    if [ "$quick" = 1 ]; then soak=60; else soak=600; fi
fi
if [ -n "$soak" ] && ! [[ "$soak" =~ ^[0-9]+$ ]]; then
    echo "run-all.sh: --with-soak wants whole seconds, not $soak" >&2
    exit 2
fi

target="${CARGO_TARGET_DIR:-target}"
logs="$target/bench-logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"

if [ "$build" = 1 ]; then
    echo "== building release once (tanso + every bench)"
    cargo build --release --locked -p cli -p node --bins --examples
fi

benches=(bench_core bench_lifecycle bench_policy bench_pact bench_pact_token bench_directory bench_relay bench_connections bench_archive bench_logistics bench_bundle bench_host)
if [ "$quick" = 0 ]; then
    benches+=(bench_scope3 bench_dashboard bench_monitor bench_publish)
fi
runs=("${benches[@]}")
if [ -n "$soak" ]; then
    runs+=(soak)
fi

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cpus)"
failed=()
for bench in "${runs[@]}"; do
    args=()
    if [ "$bench" = soak ]; then args=("$soak"); fi
    # Flush what the previous bench wrote (bench_core's stores are ~300 MB) so its writeback
    # does not land in the next bench's fsyncs: bench_lifecycle's p99 read 23.6 ms once
    # right after bench_core, 4.1-5.2 ms in five runs on its own.
    sync
    echo
    echo "== $bench ${args[*]:-}"
    start=$(date +%s)
    if "$target/release/examples/$bench" "${args[@]}" 2>&1 | tee "$logs/$bench.log"; then
        echo "== $bench: $(($(date +%s) - start)) s"
    else
        echo "== $bench: FAILED after $(($(date +%s) - start)) s (log: $logs/$bench.log)"
        failed+=("$bench")
    fi
done
echo
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "Summary ($logs)"
printf '  %-16s %-34s %12s %10s  %s\n' bench budget figure limit verdict
n_pass=0
n_miss=0
for bench in "${runs[@]}"; do
    lines=$(grep -h '^BUDGET ' "$logs/$bench.log" 2>/dev/null || true)
    if [ -z "$lines" ]; then
        printf '  %-16s %-34s %12s %10s  %s\n' "$bench" "(no BUDGET line)" - - \
            "$(if [[ " ${failed[*]:-} " == *" $bench "* ]]; then echo FAILED; else echo -; fi)"
        continue
    fi
    while read -r _ name figure limit verdict; do
        printf '  %-16s %-34s %12s %10s  %s\n' "$bench" "$name" "$figure" "$limit" "$verdict"
        if [ "$verdict" = PASS ]; then n_pass=$((n_pass + 1)); else n_miss=$((n_miss + 1)); fi
    done <<<"$lines"
done
echo "  $n_pass PASS, $n_miss MISS${failed:+, failed to run: ${failed[*]}}"
if [ "$quick" = 1 ]; then
    echo "  (--quick: bench_scope3, bench_dashboard, bench_monitor and bench_publish skipped)"
fi
[ "${#failed[@]}" -eq 0 ]
