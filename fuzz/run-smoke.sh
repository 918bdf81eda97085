#!/usr/bin/env bash
# Bounded fuzz smoke run of every target (CI): builds with cargo-fuzz and runs each
# target for FUZZ_SECONDS (default 60) from its committed seed corpus
# (corpus/<target>/). A target that finds a crash, or has no seed corpus, fails;
# the others still run. Ends with one summary line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz passes nightly-only flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP (the only toolchain available here is stable).
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-60}"
targets=$(cargo fuzz list) || exit 1
cargo fuzz build || exit 1
passed=0
failed=0
failures=""
for target in $targets; do
  if [ ! -d "corpus/$target" ] || [ -z "$(ls -A "corpus/$target")" ]; then
    echo "fuzz smoke: $target has no seed corpus in corpus/$target"
    failed=$((failed + 1))
    failures="$failures $target"
    continue
  fi
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  echo "fuzz smoke: $target for ${seconds}s"
  if cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -max_len=4096; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures="$failures $target"
  fi
  rm -rf "$work"
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz smoke: failed:$failures (crash inputs are under fuzz/artifacts/<target>/)"
fi
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
