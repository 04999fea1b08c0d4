#!/usr/bin/env python3
"""Alder test runner: host unit tests, fuzz runs and in-VM tests.

    testall.py [--host BIN...] [--fuzz-smoke BIN...] [--fuzz BIN...] [--vm IMAGE]
               [--vm-fuzz IMAGE]

Runs the groups in that order, prints one line per result (PASS name /
FAIL name: reason) and, as its last line, exactly "N passed, N failed".
Exit status 1 if anything failed or nothing ran.

Host tests are cmocka binaries run with CMOCKA_MESSAGE_OUTPUT=TAP; each test
case counts. A binary that crashes, stops before its plan is complete or
exits non-zero without a failed case counts one more failure.

Fuzzers are libFuzzer binaries; each run is one test that fails when the
fuzzer reports a crash (non-zero exit). --fuzz-smoke: -runs=20000
-max_total_time=10 with a fresh scratch corpus; --fuzz: FUZZ_SECONDS
(default 60) each with a corpus kept in build/fuzz-work/corpus/.

--vm-fuzz boots the image once (bios-q35-smp2) with alder.mode=fuzz, where
init runs the native system-call fuzzer for long (make fuzz); its results
use the same protocol as the in-VM tests.

The VM protocol, printed by the kernel and init on the serial port:
    [test] PLAN N            N more results are expected (PLANs add up)
    [test] PASS name
    [test] FAIL name: reason
    [test] DONE              then the guest writes 0x10 to port 0xf4
Each boot configuration's results count as "<config>/<name>". Per
configuration, each of these is one more failure: no DONE line, a line
with "PANIC" or "panic:", fewer (or more) results than planned, no results
at all, a QEMU exit status other than 33.

Not for: building anything (make does that), benchmarks (tools/bench.py).
"""

import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"

HOST_TIMEOUT = 300          # seconds per host test binary
VM_TIMEOUT = 180            # seconds per VM configuration
VM_PARALLEL = 2             # QEMUs at a time (TCG, 2 cores)
LOG_TAIL = 30

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")

# name, firmware, machine, smp, memory
VM_CONFIGS = [
    ("bios-pc-smp1", "bios", "pc", 1, "64M"),
    ("bios-q35-smp2", "bios", "q35", 2, "128M"),
    ("uefi-q35-smp2", "uefi", "q35", 2, "128M"),
    ("uefi-pc-smp1", "uefi", "pc", 1, "128M"),
]
VM_CMDLINE = "alder.mode=test"


class Results:
    """Counts results and prints them; safe to use from several threads."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def add(self, ok, name, reason="", detail=None):
        """Record one result and print it at once (detail: lines to show)."""
        with self.lock:
            self._add_locked(ok, name, reason, detail)

    def _add_locked(self, ok, name, reason, detail):
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f" ({reason})" if reason else ""))
        else:
            self.failed += 1
            print(f"FAIL {name}: {reason}")
            for line in detail or []:
                print(f"    | {line}")
        sys.stdout.flush()


def tail(text, n=LOG_TAIL):
    lines = text.splitlines()
    return lines[-n:]


CRASH_START = re.compile(r"==\d+==ERROR:|runtime error:|Assertion|Segmentation fault|panic")


def crash_excerpt(text, n=LOG_TAIL):
    """The first lines of a sanitizer/crash report if there is one, else the tail."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if CRASH_START.search(line):
            out = lines[i:i + n]
            for j, l in enumerate(out):      # ASan's shadow map says little
                if l.startswith("Shadow bytes around"):
                    return out[:j]
            return out
    return lines[-n:]


def read_text(path):
    try:
        return Path(path).read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def describe_status(rc):
    if rc is None:
        return "killed after timeout"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


# ---------------------------------------------------------------- host tests

TAP_PLAN = re.compile(r"^1\.\.(\d+)\s*$")
TAP_RESULT = re.compile(r"^(ok|not ok)\s+(\d+)\s*(?:-\s*)?([^#]*?)\s*(#.*)?$")


def run_host(binary, res):
    """Run one cmocka binary; count each case, plus one for a crash."""
    name = Path(binary).name
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    start = time.monotonic()
    try:
        proc = subprocess.run([binary], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=HOST_TIMEOUT)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, e.stdout or b"", e.stderr or b""
    except OSError as e:
        res.add(False, f"host/{name}", f"cannot run: {e}")
        return
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")

    planned = seen = failures = 0
    last_case = None
    pending_fail = None   # (name, reason lines) of a "not ok" awaiting its comments

    def flush_fail():
        nonlocal pending_fail
        if pending_fail:
            case, why = pending_fail
            res.add(False, f"host/{name}/{case}", "; ".join(why) or "failed")
            pending_fail = None

    for line in out.splitlines():
        line = line.rstrip()
        m = TAP_PLAN.match(line)
        if m:
            flush_fail()
            planned += int(m.group(1))
            continue
        m = TAP_RESULT.match(line)
        if m:
            flush_fail()
            ok, case, directive = m.group(1) == "ok", m.group(3), m.group(4) or ""
            case = case or f"#{m.group(2)}"
            seen += 1
            last_case = case
            if "SKIP" in directive.upper():
                print(f"SKIP host/{name}/{case}")
            elif ok:
                res.add(True, f"host/{name}/{case}")
            else:
                failures += 1
                pending_fail = (case, [])
            continue
        if pending_fail and line.startswith("#") and not re.match(r"^# (not )?ok - ", line):
            pending_fail[1].append(line[1:].strip())
            continue
        flush_fail()
    flush_fail()

    elapsed = time.monotonic() - start
    problem = None
    if rc is None:
        problem = f"timeout after {HOST_TIMEOUT} s"
    elif rc < 0:
        problem = describe_status(rc)
    elif seen == 0:
        problem = f"no test results ({describe_status(rc)})"
    elif seen < planned:
        after = f", after {last_case}" if last_case else ""
        problem = (f"crashed: {seen} of {planned} planned cases ran{after} "
                   f"({describe_status(rc)})")
    elif rc != 0 and failures == 0:
        problem = f"{describe_status(rc)} but no case failed"
    if problem:
        res.add(False, f"host/{name}", problem, crash_excerpt(err) or tail(out))
    print(f"  host/{name}: {seen} cases in {elapsed:.1f} s")


# -------------------------------------------------------------------- fuzzing

def run_fuzzer(binary, seconds, runs, keep_corpus):
    """Run one libFuzzer binary; returns (ok, summary, output tail)."""
    name = Path(binary).name
    work = BUILD / "fuzz-work"
    corpus = work / ("corpus" if keep_corpus else "scratch") / name
    if not keep_corpus and corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [binary, f"-max_total_time={seconds}", "-print_final_stats=1",
           f"-artifact_prefix={artifacts}/{name}-"]
    if runs:
        cmd.append(f"-runs={runs}")
    cmd.append(str(corpus))            # first dir: new inputs go here
    seeds = ROOT / "tests" / "fuzz" / "corpus" / name
    if seeds.is_dir():
        cmd.append(str(seeds))
    log_path = work / f"{name}.log"
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=seconds + 120)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = None
    except OSError as e:
        return False, f"cannot run: {e}", []
    out = read_text(log_path)
    runs_done = re.findall(r"^Done (\d+) runs in (\d+) second", out, re.M)
    summary = f"{runs_done[-1][0]} runs in {runs_done[-1][1]} s" if runs_done else ""
    if rc == 0:
        return True, summary, []
    crash = re.findall(r"Test unit written to (\S+)", out)
    why = describe_status(rc)
    if crash:
        why += f", reproducer {crash[-1]}"
    return False, f"{why}; log {log_path}", crash_excerpt(out)


def run_fuzz_group(binaries, seconds, runs, keep_corpus, label, res):
    with concurrent.futures.ThreadPoolExecutor(max_workers=VM_PARALLEL) as pool:
        futures = {pool.submit(run_fuzzer, b, seconds, runs, keep_corpus): b
                   for b in binaries}
        for fut in concurrent.futures.as_completed(futures):
            name = Path(futures[fut]).name
            ok, summary, detail = fut.result()
            res.add(ok, f"{label}/{name}", summary, detail)


# ------------------------------------------------------------------- VM tests

TEST_LINE = re.compile(r"\[test\] (PLAN|PASS|FAIL|DONE)\b ?(.*)$")
ANSI = re.compile(r"\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x00")


def qemu_command(image, fw, machine, smp, mem, log, debugcon, vars_copy, extra_cmdline):
    cmd = ["qemu-system-x86_64",
           "-machine", machine, "-cpu", "max", "-smp", str(smp), "-m", mem,
           "-drive", f"file={image},format=raw,if=ide,media=disk",
           "-snapshot", "-no-reboot", "-display", "none", "-monitor", "none",
           "-serial", f"file:{log}", "-debugcon", f"file:{debugcon}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-fw_cfg", f"name=opt/alder/cmdline,string={extra_cmdline}"]
    if fw == "uefi":
        shutil.copyfile(OVMF_VARS, vars_copy)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    return cmd


def boot(cmd, timeout, stderr_path):
    """Run QEMU until it exits or the timeout; returns (status or None, seconds)."""
    start = time.monotonic()
    with open(stderr_path, "wb") as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf,
                                stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
    return rc, time.monotonic() - start


def run_vm_config(image, config, cmdline=VM_CMDLINE, timeout=None):
    """Boot one configuration; returns its results for printing."""
    name, fw, machine, smp, mem = config
    timeout = timeout or VM_TIMEOUT
    out = BUILD / "vmtest"
    log = out / f"{name}.log"
    for p in (log, out / f"{name}.debugcon.log"):
        p.unlink(missing_ok=True)
    cmd = qemu_command(image, fw, machine, smp, mem, log, out / f"{name}.debugcon.log",
                       out / f"{name}.vars.fd", cmdline)
    rc, elapsed = boot(cmd, timeout, out / f"{name}.qemu.log")
    (out / f"{name}.vars.fd").unlink(missing_ok=True)

    text = ANSI.sub("", read_text(log)).replace("\r", "")
    results = []        # (ok, test name, reason)
    planned = 0
    done = False
    panic = None
    for line in text.split("\n"):
        if panic is None and ("PANIC" in line or "panic:" in line):
            panic = line.strip()
        m = TEST_LINE.search(line)
        if not m:
            continue
        kind, rest = m.group(1), m.group(2).strip()
        if kind == "PLAN":
            try:
                planned += int(rest.split()[0])
            except (ValueError, IndexError):
                results.append((False, "PLAN", f"malformed PLAN line: {line.strip()}"))
        elif kind == "PASS":
            results.append((True, rest or "(unnamed)", ""))
        elif kind == "FAIL":
            test, _, reason = rest.partition(":")
            results.append((False, test.strip() or "(unnamed)", reason.strip() or "failed"))
        elif kind == "DONE":
            done = True

    problems = []
    counted = sum(1 for r in results if r[1] != "PLAN")
    if not done:
        why = f"timeout after {timeout} s" if rc is None else describe_status(rc)
        problems.append(f"no DONE line (crash, hang or timeout; QEMU {why})")
    if panic is not None:
        problems.append(f"panic: {panic}")
    if counted < planned:
        problems.append(f"{counted} results, {planned} planned")
    elif counted > planned:
        problems.append(f"{counted} results but only {planned} planned")
    if counted == 0 and planned == 0:
        problems.append("no test results")
    if rc != 33:
        problems.append(f"QEMU {describe_status(rc)}, expected 33 (isa-debug-exit 0x10)")
    qemu_err = read_text(out / f"{name}.qemu.log").strip()
    return name, rc, elapsed, results, problems, tail(text), qemu_err


def run_vm(image, res, configs=None, cmdline=VM_CMDLINE, timeout=None):
    if not Path(image).is_file():
        res.add(False, "vm", f"{image}: no such image")
        return
    if shutil.which("qemu-system-x86_64") is None:
        res.add(False, "vm", "qemu-system-x86_64 not found (run tools/deps.sh)")
        return
    (BUILD / "vmtest").mkdir(parents=True, exist_ok=True)
    # Longest (UEFI) first so the two slots finish close together.
    order = sorted(configs or VM_CONFIGS, key=lambda c: c[1] != "uefi")
    with concurrent.futures.ThreadPoolExecutor(max_workers=VM_PARALLEL) as pool:
        futures = [pool.submit(run_vm_config, image, c, cmdline, timeout) for c in order]
        for fut in concurrent.futures.as_completed(futures):
            name, rc, elapsed, results, problems, log_tail, qemu_err = fut.result()
            with res.lock:
                print(f"--- {name}: {elapsed:.1f} s, QEMU {describe_status(rc)}, "
                      f"log build/vmtest/{name}.log")
                for ok, test, reason in results:
                    res._add_locked(ok, f"{name}/{test}", reason, None)
                for i, p in enumerate(problems):
                    detail = list(log_tail) if i == 0 else None
                    if i == 0 and qemu_err:
                        detail += ["(QEMU stderr)"] + tail(qemu_err, 5)
                    res._add_locked(False, name, p, detail)


# ----------------------------------------------------------------------- main

def parse_args(argv):
    groups = {"--host": [], "--fuzz-smoke": [], "--fuzz": [], "--vm": [], "--vm-fuzz": []}
    current = None
    for arg in argv:
        if arg in groups:
            current = arg
        elif arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        elif arg.startswith("--"):
            sys.exit(f"testall.py: unknown option {arg}")
        elif current is None:
            sys.exit("testall.py: expected --host, --fuzz-smoke, --fuzz or --vm first")
        else:
            groups[current].append(arg)
    if len(groups["--vm"]) > 1:
        sys.exit("testall.py: --vm takes one image")
    return groups


def main():
    groups = parse_args(sys.argv[1:])
    res = Results()
    t0 = time.monotonic()
    for binary in groups["--host"]:
        run_host(binary, res)
    if groups["--fuzz-smoke"]:
        run_fuzz_group(groups["--fuzz-smoke"], 10, 20000, False, "fuzz-smoke", res)
    if groups["--fuzz"]:
        seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
        run_fuzz_group(groups["--fuzz"], seconds, 0, True, "fuzz", res)
    for image in groups["--vm"]:
        run_vm(image, res)
    for image in groups["--vm-fuzz"]:
        # The long system-call fuzzer (alder.mode=fuzz) on two CPUs.
        seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
        run_vm(image, res, [c for c in VM_CONFIGS if c[0] == "bios-q35-smp2"], "alder.mode=fuzz",
               max(VM_TIMEOUT, 20 * seconds))
    print(f"total time {time.monotonic() - t0:.1f} s")
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed or res.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
