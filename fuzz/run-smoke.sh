#!/usr/bin/env bash
# Bounded fuzz smoke run of every target (CI): builds with cargo-fuzz and runs each
# target for FUZZ_SECONDS (default 60) from the committed seed corpus.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz passes nightly-only flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP (the only toolchain available here is stable).
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-60}"
for target in $(cargo fuzz list); do
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  echo "fuzz smoke: $target for ${seconds}s"
  cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -max_len=4096
  rm -rf "$work"
done
echo "fuzz-smoke: $(cargo fuzz list | wc -l) passed, 0 failed"
