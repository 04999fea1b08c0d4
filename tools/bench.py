#!/usr/bin/env python3
"""Alder benchmarks: boot the image in benchmark mode and collect figures.

    bench.py IMAGE

Boots three times under -icount shift=0,sleep=off (one instruction = 1 ns
of virtual time, so figures are deterministic and independent of the host):
legacy BIOS on machine pc with one CPU, UEFI (OVMF) on q35 with one CPU,
and legacy BIOS on pc with two CPUs; 128M, kernel arguments
"alder.mode=bench" through fw_cfg opt/alder/cmdline. The guest prints lines
"bench NAME VALUE UNIT" on the serial port and then exits through
isa-debug-exit. Every such line is printed on stdout in the same format;
names from the UEFI boot get the prefix "uefi_", names from the two-CPU
boot "smp2_" -- except names ending in "_smp", which only a boot with
several CPUs prints and which keep their name. Serial logs go to
build/bench/<bios|uefi|bios-smp2>.log, progress and problems to stderr.

With two CPUs under -icount, QEMU runs the vCPUs one after the other on
one host thread (round robin), and virtual time advances with every
instruction either vCPU executes. A figure from the two-CPU boot is
therefore NOT a parallel timing: it counts the instructions of both CPUs
(and the halted CPU's wake-up) on the path, like one CPU would, plus the
cost of the IPIs, and none of the overlap real hardware would give.

Exit status 1 if a boot produced no bench line (so also if none was seen).

Not a test: it reports figures and judges none of them.
"""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
TIMEOUT = 300

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")

# name, firmware, machine, CPUs, prefix for the figures' names
BOOTS = [
    ("bios", "bios", "pc", 1, ""),
    ("uefi", "uefi", "q35", 1, "uefi_"),
    ("bios-smp2", "bios", "pc", 2, "smp2_"),
]
# Figures only a boot with several CPUs prints; they keep their names.
SMP_SUFFIX = "_smp"

BENCH_LINE = re.compile(r"^\s*bench (\S+) (-?[0-9]+(?:\.[0-9]+)?) (\S+)\s*$")
ANSI = re.compile(r"\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x00")


def run_boot(image, name, fw, machine, cpus):
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{name}.log"
    log.unlink(missing_ok=True)
    cmd = ["qemu-system-x86_64",
           "-machine", machine, "-cpu", "max", "-smp", str(cpus), "-m", "128M",
           "-icount", "shift=0,sleep=off",
           "-drive", f"file={image},format=raw,if=ide,media=disk",
           "-snapshot", "-no-reboot", "-display", "none", "-monitor", "none",
           "-serial", f"file:{log}", "-debugcon", f"file:{out / (name + '.debugcon.log')}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-fw_cfg", "name=opt/alder/cmdline,string=alder.mode=bench"]
    vars_copy = out / f"{name}.vars.fd"
    if fw == "uefi":
        shutil.copyfile(OVMF_VARS, vars_copy)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    start = time.monotonic()
    with open(out / f"{name}.qemu.log", "wb") as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf,
                                stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
    vars_copy.unlink(missing_ok=True)
    elapsed = time.monotonic() - start
    try:
        text = log.read_bytes().decode("utf-8", "replace")
    except OSError:
        text = ""
    text = ANSI.sub("", text).replace("\r", "")
    figures = [m.groups() for m in map(BENCH_LINE.match, text.split("\n")) if m]
    return rc, elapsed, figures, text


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    image = sys.argv[1]
    if not Path(image).is_file():
        print(f"bench.py: {image}: no such image", file=sys.stderr)
        return 1
    ok = True
    for name, fw, machine, cpus, prefix in BOOTS:
        rc, elapsed, figures, text = run_boot(image, name, fw, machine, cpus)
        for bname, value, unit in figures:
            pre = "" if cpus > 1 and bname.endswith(SMP_SUFFIX) else prefix
            print(f"bench {pre}{bname} {value} {unit}")
        sys.stdout.flush()
        status = "timeout" if rc is None else f"exit status {rc}"
        print(f"bench.py: {name} ({fw}, {machine}, {cpus} CPU): {len(figures)} figures, "
              f"{elapsed:.1f} s, QEMU {status}, log build/bench/{name}.log",
              file=sys.stderr)
        if rc != 33:
            print(f"bench.py: warning: {name}: QEMU {status}, expected 33", file=sys.stderr)
        if not figures:
            ok = False
            print(f"bench.py: {name}: no bench line; last lines of the log:", file=sys.stderr)
            for line in text.splitlines()[-30:]:
                print(f"    | {line}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
