#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer coverage instrumentation (stable Rust is enough: no
# sanitizer) and runs each for SECONDS (default 60), from fuzz/seeds/<target> plus the
# corpus it grows in fuzz/corpus/<target> (not committed). Crashes are written to
# fuzz/artifacts/<target>/ and make this script exit non-zero.
#
#   fuzz/run.sh 60            # every target, 60 s each
#   fuzz/run.sh 300 policy    # one target
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope pact_json policy cloud_event)
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
# What cargo-fuzz passes with `--sanitizer none`; --target keeps them off build scripts.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
cargo build --release --locked --target "$triple" --bins
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    echo "== $t: ${seconds}s"
    if ! "$CARGO_TARGET_DIR/$triple/release/$t" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" -max_len=65536 "corpus/$t" "seeds/$t" >"$log" 2>&1; then
        status=1
        echo "   CRASH: see $log and artifacts/$t/"
        grep -m1 -A5 "panicked\|ERROR: libFuzzer" "$log" || true
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
    echo "   executions: $runs, ${cov:-cov: ?}, corpus: $(ls "corpus/$t" | wc -l) inputs"
done
exit $status
