#!/usr/bin/env bash
# Coverage-guided fuzzing of every surface where hale parses input (fuzz/fuzz_targets/), with
# libFuzzer and LLVM's coverage instrumentation, on the stable toolchain.
#
#   scripts/fuzz.sh                  # every target for 20 s (what scripts/test.sh runs)
#   scripts/fuzz.sh 600              # every target for 10 minutes
#   scripts/fuzz.sh 3600 http_request
#   FUZZ_UPDATE_CORPUS=1 scripts/fuzz.sh 600   # then merge what found new coverage into fuzz/corpus
#
# Each target starts from its corpus in fuzz/corpus/<target>/ (copied, so a run leaves the
# repository as it was unless FUZZ_UPDATE_CORPUS=1). A crash, a hang (10 s for one input) or an
# input over 2 GiB of memory fails the run, and the input is kept in the printed directory:
# reproduce it with `fuzz/target/x86_64-unknown-linux-gnu/release/<target> <file>`.
# The last line per target reads "fuzz: <target>: N executions in S s, corpus C, 0 crashes".
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
all=(webhook_payload config web_config events_query http_request host_files cgroup_files pull_answers)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

triple="$(rustc -vV | sed -n 's/^host: //p')"
# Instrument hale's code (not build scripts: --target keeps RUSTFLAGS off them) for
# libFuzzer's coverage feedback. These are stable codegen flags; no sanitizer, so no nightly.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --quiet --release --target "$triple" --manifest-path fuzz/Cargo.toml \
  $(printf -- '--bin %s ' "${targets[@]}")
bin="fuzz/target/$triple/release"

failed=0
for t in "${targets[@]}"; do
  work="$(mktemp -d "/tmp/hale-fuzz-$t.XXXXXX")"
  cp -r "fuzz/corpus/$t" "$work/corpus"
  status=0
  "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)"
  corpus="$(find "$work/corpus" -type f | wc -l)"
  crashes="$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz: $t FAILED (exit $status, $crashes crash/timeout/oom inputs in $work):" >&2
    grep -a -E "panicked|ERROR|SUMMARY|Test unit written" "$work/log" | head -20 >&2 || tail -30 "$work/log" >&2
    continue
  fi
  if [ "${FUZZ_UPDATE_CORPUS:-}" = 1 ]; then
    "$bin/$t" -merge=1 -max_len=65536 "fuzz/corpus/$t" "$work/corpus" >>"$work/log" 2>&1
  fi
  echo "fuzz: $t: ${runs:-0} executions in ${seconds} s, corpus $corpus, 0 crashes"
  rm -rf "$work"
done
exit "$failed"
