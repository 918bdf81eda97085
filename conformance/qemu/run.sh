#!/usr/bin/env bash
# QEMU end-to-end tests (transport/tests/qemu.rs): guests under SeaBIOS and OVMF with
# `-tpmdev emulator` and tpm-tis / tpm-crb, on vtpm and on swtpm.
# Installs QEMU, OVMF, busybox-static (and the peers), extracts a distribution kernel
# without installing it, then runs the ignored qemu tests. Extra arguments go to the
# test binary (e.g. a test name filter such as `ovmf_crb`).
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -e /usr/share/ovmf/OVMF.fd ] \
    || [ ! -x /usr/bin/busybox ] || ! command -v swtpm >/dev/null || ! command -v tpm2_eventlog >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 ovmf busybox-static \
        swtpm tpm2-tools >/dev/null
fi

# The kernel: the distribution's current one, unpacked from its .deb into target/.
if [ -z "${VTPM_QEMU_KERNEL:-}" ]; then
    assets="$PWD/target/qemu-assets"
    mkdir -p "$assets"
    kernel=$(ls "$assets"/x/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
    if [ -z "$kernel" ]; then
        pkg=""
        for meta in linux-image-amd64 linux-image-generic; do
            pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
            [ -n "$pkg" ] && break
        done
        [ -n "$pkg" ] || { echo "no kernel package found (set VTPM_QEMU_KERNEL)" >&2; exit 1; }
        (cd "$assets" && apt-get download -q "$pkg" && dpkg-deb -x "$pkg"_*.deb x && rm -f "$pkg"_*.deb)
        kernel=$(ls "$assets"/x/boot/vmlinuz-* | head -n1)
    fi
    export VTPM_QEMU_KERNEL="$kernel"
fi
export VTPM_QEMU=1

# One guest at a time: software emulation wants the cores.
cargo test -p vtpm-transport --locked --test qemu -- --ignored --test-threads=1 --nocapture "$@"
