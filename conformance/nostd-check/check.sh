#!/usr/bin/env bash
# The no_std proof (CI): the engine crates (vtpm-crypto, vtpm-nvram, vtpm-commands,
# vtpm) build as a no_std static library with panic=abort, our own allocator and
# panic handler, and no crate in their graph enables a `std` feature; a C program
# then links that library with a stand-in firmware (heap + abort) and drives the TPM
# through the C ABI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
manifest="$here/Cargo.toml"

# 1. Feature check: no `std` (or `default` of a crate whose default is std) anywhere.
tree="$(cargo tree --manifest-path "$manifest" --locked -e features,normal --target all)"
if grep -E 'feature "std"' <<<"$tree"; then
    echo "nostd-check: a dependency of the engine crates enables a std feature (above)" >&2
    exit 1
fi
for crate in vtpm-crypto vtpm-nvram vtpm-commands vtpm; do
    grep -q "^[│├└ ─]*$crate v" <<<"$tree" || { echo "nostd-check: $crate missing from the tree" >&2; exit 1; }
done
if grep -E 'vtpm-nvram feature "default"' <<<"$tree"; then
    echo "nostd-check: vtpm-nvram's default (std) features are on" >&2
    exit 1
fi
# (libc appears for cpufeatures on some targets: a no_std binding crate, fine
# without its std feature, which the check above refuses.)

# 2. The no_std static library (panic=abort from the profile). A crate that linked
#    std would clash with our #[panic_handler] and fail this build.
cargo build --manifest-path "$manifest" --locked --release
lib="$here/target/release/libvtpm_nostd_check.a"

# 3. The C ABI test program against it, with a stand-in firmware heap.
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"${CC:-gcc}" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 \
    -I "$root/transport/include" \
    "$root/transport/tests/c/capi_test.c" "$here/fw_shim.c" "$lib" -o "$out/capi_test_nostd"
"$out/capi_test_nostd"
echo "nostd-check: ok"
