#!/usr/bin/env bash
# shellcheck disable=SC2054  # commas inside QEMU arguments are QEMU syntax
# qemu.sh [options] IMAGE — run an Alder disk image in QEMU, for humans.
#
# The serial console is on this terminal (Ctrl-A X quits, Ctrl-A C toggles
# the QEMU monitor); port 0xe9 output goes to build/debugcon.log. The image
# is opened with -snapshot, so it is never modified. Exit status is 0 when
# the guest writes 0x10 to the isa-debug-exit port (QEMU status 33) or
# QEMU exits normally; otherwise QEMU's status.
#
# Not for automated tests: tools/testall.py and tools/bench.py start QEMU
# themselves with logs to files and timeouts.
set -euo pipefail

usage() {
    cat >&2 <<EOF
usage: $0 [--bios|--uefi] [--machine pc|q35] [--smp N] [--mem SIZE] [--gdb]
          [--cmdline "STR"] [--icount] [--headless-log FILE] IMAGE
  --bios / --uefi       firmware: SeaBIOS (default) or OVMF
  --machine pc|q35      machine type (default q35)
  --smp N               CPUs (default 2)
  --mem SIZE            RAM (default 256M)
  --gdb                 wait for gdb on :1234 before starting the CPUs
  --cmdline STR         kernel arguments, via fw_cfg opt/alder/cmdline
  --icount              deterministic instruction counting (-icount shift=0,sleep=off)
  --headless-log FILE   no terminal: serial output to FILE
EOF
    exit 2
}

firmware=bios
machine=q35
smp=2
mem=256M
gdb=0
cmdline=
icount=0
headless_log=
image=

while [ $# -gt 0 ]; do
    case $1 in
        --bios) firmware=bios ;;
        --uefi) firmware=uefi ;;
        --machine) [ $# -ge 2 ] || usage; machine=$2; shift ;;
        --smp) [ $# -ge 2 ] || usage; smp=$2; shift ;;
        --mem) [ $# -ge 2 ] || usage; mem=$2; shift ;;
        --gdb) gdb=1 ;;
        --cmdline) [ $# -ge 2 ] || usage; cmdline=$2; shift ;;
        --icount) icount=1 ;;
        --headless-log) [ $# -ge 2 ] || usage; headless_log=$2; shift ;;
        -h|--help) usage ;;
        -*) echo "qemu.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$image" ] || usage; image=$1 ;;
    esac
    shift
done
[ -n "$image" ] || usage
[ -f "$image" ] || { echo "qemu.sh: $image: no such file" >&2; exit 1; }
case $machine in pc|q35) ;; *) echo "qemu.sh: machine must be pc or q35" >&2; exit 2 ;; esac

# build/ next to the image's tools, whatever the current directory.
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
mkdir -p "$build"

args=(
    -machine "$machine"
    -cpu max
    -smp "$smp"
    -m "$mem"
    -drive "file=$image,format=raw,if=ide,media=disk"
    -snapshot
    -no-reboot
    -display none
    -debugcon "file:$build/debugcon.log"
    -device isa-debug-exit,iobase=0xf4,iosize=0x04
)
# q35's IDE is its AHCI controller, pc's is PIIX: both firmwares boot from
# either. -drive if=ide picks the right one for the machine.

if [ -n "$headless_log" ]; then
    args+=(-serial "file:$headless_log" -monitor none)
else
    args+=(-serial mon:stdio)
fi

if [ "$firmware" = uefi ]; then
    code=/usr/share/OVMF/OVMF_CODE_4M.fd
    vars_template=/usr/share/OVMF/OVMF_VARS_4M.fd
    [ -f "$code" ] || { echo "qemu.sh: $code missing (install ovmf)" >&2; exit 1; }
    vars=$build/ovmf_vars.$$.fd
    cp "$vars_template" "$vars"
    trap 'rm -f "$vars"' EXIT
    args+=(
        -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
        -drive "if=pflash,format=raw,unit=1,file=$vars"
    )
fi

[ -z "$cmdline" ] || args+=(-fw_cfg "name=opt/alder/cmdline,string=$cmdline")
[ "$icount" = 0 ] || args+=(-icount shift=0,sleep=off)

if [ "$gdb" = 1 ]; then
    args+=(-s -S)
    echo "qemu.sh: waiting for gdb; attach with:" >&2
    echo "    gdb build/kernel.elf -ex 'target remote :1234'" >&2
fi

echo "qemu.sh: $firmware $machine smp=$smp mem=$mem (Ctrl-A X quits)" >&2
set +e
qemu-system-x86_64 "${args[@]}"
status=$?
set -e
case $status in
    0|33) exit 0 ;;
    *) echo "qemu.sh: QEMU exited with status $status" >&2; exit "$status" ;;
esac
