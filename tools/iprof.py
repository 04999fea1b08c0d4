#!/usr/bin/env python3
"""Alder instruction profiler: every instruction of one call, by function.

    iprof.py [--image IMG] [--prog ELF] [--func NAME] [--skip N]
             [--when-reg REG=SYMBOL] [--max N] [--port P] [--trace FILE]

Boots IMG (default build/alder.img) in benchmark mode under QEMU with
-icount shift=0 and the gdb stub, stops the N+1st time (--skip N) the user
program ELF (default build/user/tests/bench) enters function NAME (default
rtt_once), then single-steps every instruction on every CPU's path — the
program, the kernel, and any other process that runs meanwhile — until
that call returns. Prints the instruction count and a profile by function
(binary:function), largest first; --trace writes every step.

The breakpoint matches a virtual address in any address space, so another
process's code at the same address could hit it: --when-reg REG=SYMBOL
(default rsi=req.1, bench's request buffer) requires a register to hold
a symbol's address. User addresses are attributed by CR3: the address
space that hit the breakpoint is ELF; another one is taken to be the first
--other ELF (default build/user/srv/echo).

Single-stepping in QEMU's gdb stub runs with interrupts and timers masked,
so the path is the one the code takes when nothing interrupts it. A
developer's tool: slow (a few thousand steps a second), not part of any
test.
"""

import argparse
import bisect
import collections
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def symbols(elf):
    out = subprocess.run(["nm", "-n", "--defined-only", str(elf)], check=True,
                         capture_output=True, text=True).stdout
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    return addrs, names


def lookup(table, pc):
    addrs, names = table
    i = bisect.bisect_right(addrs, pc) - 1
    return names[i] if i >= 0 else hex(pc)


GDB_SCRIPT = r'''
import gdb
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("target remote :%(port)d")
gdb.execute("break *%(func_addr)d if $%(reg)s == %(reg_val)d")
gdb.execute("ignore 1 %(skip)d")
gdb.execute("continue")
gdb.execute("delete")
def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & 0xffffffffffffffff
cr3 = reg("cr3")
rsp = reg("rsp")
ret = int(gdb.parse_and_eval("*(unsigned long *)$rsp")) & 0xffffffffffffffff
with open(%(trace)r, "w") as f:
    f.write("start %%x %%x\n" %% (cr3, ret))
    n = 0
    while n < %(max)d:
        pc = reg("pc")
        c3 = reg("cr3")
        if pc == ret and c3 == cr3 and reg("rsp") > rsp:
            break
        f.write("%%x %%x\n" %% (c3, pc))
        gdb.execute("stepi", to_string=True)
        n += 1
gdb.execute("kill")
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=str(BUILD / "alder.img"))
    ap.add_argument("--prog", default=str(BUILD / "user/tests/bench"))
    ap.add_argument("--other", default=str(BUILD / "user/srv/echo"))
    ap.add_argument("--func", default="rtt_once")
    ap.add_argument("--skip", type=int, default=300)
    ap.add_argument("--when-reg", default="rsi=req.1")
    ap.add_argument("--max", type=int, default=400000)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--trace", default="")
    ap.add_argument("--top", type=int, default=60)
    args = ap.parse_args()

    ktab = symbols(BUILD / "kernel.elf")
    ptab = symbols(args.prog)
    otab = symbols(args.other)
    pmap = dict((n, a) for a, n in zip(*ptab))
    nm_all = subprocess.run(["nm", str(args.prog)], check=True, capture_output=True,
                            text=True).stdout
    allsyms = {}
    for line in nm_all.splitlines():
        parts = line.split()
        if len(parts) == 3:
            allsyms[parts[2]] = int(parts[0], 16)
    if args.func not in pmap:
        sys.exit(f"iprof: {args.func}: not in {args.prog}")
    reg, sym = args.when_reg.split("=")
    if sym not in allsyms:
        sys.exit(f"iprof: {sym}: not in {args.prog}")
    port = args.port or free_port()
    trace = args.trace or tempfile.mktemp(prefix="iprof.", suffix=".trace")
    script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    script.write(GDB_SCRIPT % dict(port=port, func_addr=pmap[args.func], reg=reg,
                                   reg_val=allsyms[sym], skip=args.skip, trace=trace,
                                   max=args.max))
    script.close()
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "pc", "-cpu", "max", "-smp", "1", "-m", "128M",
         "-icount", "shift=0,sleep=off", "-drive", f"file={args.image},format=raw,if=ide",
         "-snapshot", "-no-reboot", "-display", "none", "-monitor", "none",
         "-serial", "null", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-fw_cfg", "name=opt/alder/cmdline,string=alder.mode=bench",
         "-gdb", f"tcp::{port}", "-S"],
        stdin=subprocess.DEVNULL)
    try:
        subprocess.run(["gdb", "-q", "-batch", "-nx", str(BUILD / "kernel.elf"),
                        "-ex", f"source {script.name}"], check=False, stdout=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
    finally:
        qemu.kill()
        qemu.wait()
        os.unlink(script.name)

    counts = collections.Counter()
    total = 0
    with open(trace) as f:
        first = f.readline().split()
        if not first or first[0] != "start":
            sys.exit("iprof: no trace (breakpoint never hit?)")
        home = int(first[1], 16)
        for line in f:
            c3, pc = (int(x, 16) for x in line.split())
            if pc >= 0xffff800000000000:
                name = "k:" + lookup(ktab, pc)
            elif c3 == home:
                name = "prog:" + lookup(ptab, pc)
            else:
                name = "other:" + lookup(otab, pc)
            counts[name] += 1
            total += 1
    print(f"iprof: {total} instructions in {args.func} (trace {trace})")
    for name, n in counts.most_common(args.top):
        print(f"{n:8d} {100.0 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
