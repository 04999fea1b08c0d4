#!/usr/bin/env python3
"""Kernel symbol table for backtraces.

gensyms.py KERNEL.elf > ksyms.S  writes the function symbols of a first-pass
kernel link as an assembly file for the .ksyms section (see kernel.ld):
    ksyms_count: .quad N
    ksyms_table: N x { .quad address, .quad offset into ksyms_names }, sorted
    ksyms_names: NUL-terminated names
gensyms.py --check PASS1.elf FINAL.elf  fails if any symbol moved between the
two links (it must not: .ksyms is the last section).
"""
import subprocess
import sys


def text_symbols(elf):
    out = subprocess.run(["nm", "-n", "--defined-only", elf], check=True,
                         capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        addr, kind, name = parts
        if kind in "tTwW" and int(addr, 16) >= 0xffffffff80000000:
            syms.append((int(addr, 16), name))
    return syms


def main():
    if sys.argv[1] == "--check":
        a = dict((n, x) for x, n in text_symbols(sys.argv[2]))
        b = dict((n, x) for x, n in text_symbols(sys.argv[3]))
        moved = [n for n in a if n in b and a[n] != b[n]]
        if moved:
            sys.exit("gensyms: symbols moved between links: " + ", ".join(moved[:5]))
        return
    syms = text_symbols(sys.argv[1])
    print('\t.section .ksyms, "a"\n\t.balign 8')
    print("\t.globl ksyms_count, ksyms_table, ksyms_names")
    print("ksyms_count:\n\t.quad %d" % len(syms))
    print("ksyms_table:")
    off = 0
    for addr, name in syms:
        print("\t.quad 0x%x, %d" % (addr, off))
        off += len(name) + 1
    print("ksyms_names:")
    for _, name in syms:
        print('\t.asciz "%s"' % name)


if __name__ == "__main__":
    main()
