#!/usr/bin/env python3
"""Write the libFuzzer seed corpora in tests/fuzz/corpus/fuzz_<name>/.

    tools/mkcorpus.py [OUTDIR]      (default: tests/fuzz/corpus)

The seeds are small, valid (or deliberately near-valid) inputs that get each
fuzzer past the magic numbers and checksums quickly. They are generated here
rather than hand-edited so that they are reproducible: the output is fully
deterministic, and the generated files are committed. Re-run after changing
this script and commit the result.

Layouts follow the parsers in kernel/generic/ (cpio.c, elf.c, multiboot2.c,
acpi.c); see the input format described at the top of each tests/fuzz/*.c.
"""
import os
import struct
import sys


def write(outdir, fuzzer, name, data):
    d = os.path.join(outdir, fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pad(b, align):
    return b + b"\0" * (-len(b) % align)


# ---------------------------------------------------------------- cpio (newc)

def cpio_entry(name, mode, data=b"", magic=b"070701", ino=1):
    namesize = len(name) + 1
    check = sum(data) & 0xFFFFFFFF if magic == b"070702" and mode & 0o170000 == 0o100000 else 0
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, namesize, check]
    hdr = magic + b"".join(b"%08X" % v for v in fields)
    return pad(pad(hdr + name.encode() + b"\0", 4) + data, 4)


def cpio_archive(entries, magic=b"070701"):
    out = b""
    for i, (name, mode, data) in enumerate(entries):
        out += cpio_entry(name, mode, data, magic, ino=i + 1)
    return out + cpio_entry("TRAILER!!!", 0, b"", magic, ino=0)


def corpus_cpio(outdir):
    f = "fuzz_cpio"
    write(outdir, f, "newc", cpio_archive([
        (".", 0o40755, b""),
        ("init", 0o100755, b"init!\n"),
        ("tests", 0o40755, b""),
        ("./tests/x", 0o100644, b"xyz"),
        ("link", 0o120777, b"init"),
    ]))
    write(outdir, f, "crc", cpio_archive([
        ("a", 0o100644, b"hello"),
        ("/b", 0o100644, b"\xff\xfe"),
    ], magic=b"070702"))
    write(outdir, f, "trailer", cpio_archive([]))


# ---------------------------------------------------------------- ELF64

PT_LOAD, PT_INTERP, PT_GNU_STACK = 1, 3, 0x6474E551


def elf_file(etype=2, phdrs=None, entry=0x400078, size=0x120):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", etype, 62, 1, entry, 64, 0, 0,
                               64, 56, len(phdrs), 0, 0, 0)
    ph = b"".join(struct.pack("<IIQQQQQQ", *p) for p in phdrs)
    body = ehdr + ph
    return body + b"\xcc" * (size - len(body))


def corpus_elf(outdir):
    f = "fuzz_elf"
    text = (PT_LOAD, 5, 0, 0x400000, 0x400000, 0x100, 0x100, 0x1000)
    data = (PT_LOAD, 6, 0x100, 0x401100, 0x401100, 0x20, 0x1000, 0x1000)
    stack = (PT_GNU_STACK, 6, 0, 0, 0, 0, 0, 16)
    write(outdir, f, "exec", elf_file(phdrs=[text, data, stack]))
    write(outdir, f, "dyn", elf_file(etype=3, phdrs=[text, data]))
    interp = (PT_INTERP, 4, 0xe8, 0x4000e8, 0x4000e8, 0x10, 0x10, 1)
    write(outdir, f, "interp", elf_file(phdrs=[interp, text]))


# ---------------------------------------------------------------- Multiboot2

def mb2_tag(tag_type, payload=b""):
    return pad(struct.pack("<II", tag_type, 8 + len(payload)) + payload, 8)


def mb2_info(tags):
    body = b"".join(tags) + mb2_tag(0)
    return struct.pack("<II", 8 + len(body), 0) + body


def corpus_mb2(outdir):
    f = "fuzz_mb2"
    mmap = struct.pack("<II", 24, 0) + b"".join(
        struct.pack("<QQII", base, length, t, 0) for base, length, t in [
            (0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0x100000, 0x7EE0000, 1),
            (0x7FE0000, 0x20000, 3), (0xFFFC0000, 0x40000, 2)])
    fb = struct.pack("<QIIIBBH", 0xFD000000, 4096, 1024, 768, 32, 1, 0) + bytes(6)
    rsdp = b"RSD PTR " + bytes(28)
    write(outdir, f, "full", mb2_info([
        mb2_tag(1, b"console=ttyS0 a=1 log=debug\0"),
        mb2_tag(2, b"GRUB 2.06\0"),
        mb2_tag(3, struct.pack("<II", 0x200000, 0x280000) + b"/initramfs.cpio\0"),
        mb2_tag(6, mmap),
        mb2_tag(8, fb),
        mb2_tag(12, struct.pack("<Q", 0x7F000000)),
        mb2_tag(14, rsdp[:20]),
        mb2_tag(15, rsdp),
    ]))
    write(outdir, f, "minimal", mb2_info([]))
    write(outdir, f, "cmdline", mb2_info([mb2_tag(1, b"init=/init console=a log=1 log=2\0")]))


# ---------------------------------------------------------------- ACPI
# Fuzz input: one option byte, then physical memory from address 0; the
# RSDP is the first 36 bytes of that memory (fuzz_acpi.c).

def acpi_checksum(b, at):
    b = bytearray(b)
    b[at] = 0
    b[at] = (-sum(b)) & 0xFF
    return bytes(b)


def acpi_table(sig, rev, body):
    hdr = sig + struct.pack("<IBB", 36 + len(body), rev, 0) + b"ALDER " + b"FUZZSEED" + \
        struct.pack("<III", 1, 0, 0)
    return acpi_checksum(hdr + body, 9)


def rsdp(rev, rsdt, xsdt):
    b = b"RSD PTR " + b"\0" + b"ALDERX" + bytes([rev]) + struct.pack("<IIQ", rsdt, 36, xsdt) + bytes(4)
    b = acpi_checksum(b[:20], 8) + b[20:]
    return acpi_checksum(b, 32)


def gas(space, width, addr):
    return struct.pack("<BBBBQ", space, width, 0, 1, addr)


def madt(override=False):
    e = b""
    e += bytes([0, 8, 0, 0]) + struct.pack("<I", 1)
    e += bytes([0, 8, 1, 1]) + struct.pack("<I", 0)
    e += bytes([1, 12, 8, 0]) + struct.pack("<II", 0xFEC00000, 0)
    e += bytes([2, 10, 0, 0]) + struct.pack("<IH", 2, 0)
    e += bytes([2, 10, 0, 9]) + struct.pack("<IH", 9, 0xD)
    e += bytes([4, 6, 0xFF, 5, 0, 1])
    e += bytes([9, 16, 0, 0]) + struct.pack("<III", 0x100, 1, 0x100)
    if override:
        e += bytes([5, 12, 0, 0]) + struct.pack("<Q", 0xFEE00000)
    return acpi_table(b"APIC", 5, struct.pack("<II", 0xFEE00000, 1) + e)


def fadt(rev, length):
    f = bytearray(276 - 36)

    def put(off, fmt, *v):
        struct.pack_into(fmt, f, off - 36, *v)
    put(40, "<I", 0x7000)
    put(46, "<H", 9)
    put(48, "<IBB", 0xB2, 0xF1, 0xF0)
    put(56, "<II", 0x600, 0)
    put(64, "<II", 0x604, 0)
    put(76, "<I", 0x608)
    put(91, "<B", 4)
    put(109, "<H", 3)
    put(112, "<I", 1 << 10)
    f[116 - 36:128 - 36] = gas(1, 8, 0xCF9)
    put(128, "<B", 6)
    put(140, "<Q", 0x7000)
    f[148 - 36:160 - 36] = gas(1, 32, 0x600)
    f[208 - 36:220 - 36] = gas(1, 32, 0x608)
    return acpi_table(b"FACP", rev, bytes(f[:length - 36]))


def memory(placed, size):
    mem = bytearray(size)
    end = 0
    for at, blob in sorted(placed):
        assert at >= end and at + len(blob) <= size, "tables overlap"
        mem[at:at + len(blob)] = blob
        end = at + len(blob)
    return bytes(mem)


def corpus_acpi(outdir):
    f = "fuzz_acpi"
    hpet = acpi_table(b"HPET", 1, struct.pack("<I", 0x8086A201) + gas(0, 64, 0xFED00000) +
                      struct.pack("<BHB", 0, 0x80, 0))
    mcfg = acpi_table(b"MCFG", 1, bytes(8) + struct.pack("<QHBBI", 0xB0000000, 0, 0, 255, 0))
    # XSDT 0x40, RSDT 0x90, MADT 0xD0, HPET 0x150, MCFG 0x190, FADT 0x1D0
    tables = [0x1D0, 0xD0, 0x150, 0x190]
    xsdt = acpi_table(b"XSDT", 1, b"".join(struct.pack("<Q", t) for t in tables))
    rsdt = acpi_table(b"RSDT", 1, b"".join(struct.pack("<I", t) for t in tables))
    write(outdir, f, "v2", b"\x03" + memory([
        (0, rsdp(2, 0x90, 0x40)), (0x40, xsdt), (0x90, rsdt), (0xD0, madt()),
        (0x150, hpet), (0x190, mcfg), (0x1D0, fadt(6, 276))], 0x2E4))

    rsdt1 = acpi_table(b"RSDT", 1, struct.pack("<II", 0x80, 0x100))
    write(outdir, f, "v1", b"\x07" + memory([
        (0, rsdp(0, 0x40, 0)), (0x40, rsdt1), (0x80, madt(override=True)),
        (0x100, fadt(1, 116))], 0x174))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")
    corpus_cpio(outdir)
    corpus_elf(outdir)
    corpus_mb2(outdir)
    corpus_acpi(outdir)


if __name__ == "__main__":
    main()
