#!/usr/bin/env bash
# deps.sh — make sure the Debian packages the build and the tests need are
# installed; installs the missing ones with apt-get. Run by every `make`, so
# the common case (all present) is one dpkg-query call.
#
# Not for: non-Debian hosts (it says what is missing and fails), pinning
# versions.
set -euo pipefail

PACKAGES=(qemu-system-x86 qemu-utils grub-pc-bin grub-efi-amd64-bin grub-common
          mtools gdisk dosfstools ovmf cpio libcmocka-dev libclang-rt-14-dev
          clang musl-tools python3 gcc make)

missing=()
if command -v dpkg-query >/dev/null; then
    # One query for all: prints "name installed" for each installed package;
    # unknown packages only produce a message on stderr.
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
                awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }') || true
    for p in "${PACKAGES[@]}"; do
        grep -qx -- "$p" <<<"$installed" || missing+=("$p")
    done
else
    echo "deps.sh: no dpkg-query: not a Debian system; install these yourself:" >&2
    echo "  ${PACKAGES[*]}" >&2
    exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "deps.sh: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
