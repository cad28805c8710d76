"""The ground floor of the benchmark's plumbing (re-exported by benchlib): BenchError, the
progress line, what the kernel says about a process (/proc CPU and memory, `ss` byte counters),
statistics and log tails. Puts tests/support on sys.path for the modules above it. Stateless; a
Progress belongs to one thread."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"


class BenchError(Exception):
    """Something the benchmark could not set up or run (not a slow figure)."""


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """One status line on stderr: rewritten in place on a terminal, a line per step otherwise."""

    def __init__(self, total_steps, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.total = total_steps
        self.index = 0
        self.name = ""
        self.started = time.monotonic()
        self.step_started = self.started
        self._last = ""
        self.prefix = ""  # e.g. "round 2/3: "

    def step(self, name):
        self.index += 1
        self.name = name
        self.step_started = time.monotonic()
        if not self.tty:
            print(f"[{self.index}/{self.total}] {name} ...", file=self.stream, flush=True)
        else:
            self.update("starting")

    def update(self, text):
        if not self.tty:
            return
        line = f"[{self.index}/{self.total}] {self.name}: {self.prefix}{text}"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = line[:width]
        pad = max(0, len(self._last) - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last = line

    def done(self, summary):
        took = time.monotonic() - self.step_started
        line = f"[{self.index}/{self.total}] {self.name}: {summary} ({took:.1f} s)"
        if self.tty:
            pad = max(0, len(self._last) - len(line))
            self.stream.write("\r" + line + " " * pad + "\n")
            self._last = ""
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text):
        if self.tty and self._last:
            self.stream.write("\n")
            self._last = ""
        print(text, file=self.stream, flush=True)


# --------------------------------------------------------------------------------------------
# What the kernel knows about a process


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def memory_kb(pid):
    """{"rss": VmRSS, "hwm": VmHWM} in kB (zeros when the process is gone)."""
    out = {"rss": 0, "hwm": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    out["hwm"] = int(line.split()[1])
    except OSError:
        pass
    return out


def thread_cpu(pid):
    """CPU seconds per thread of a gateway, by the names its threads give themselves (fb-ingest,
    fb-pipeline, fb-commit, fb-uplink, fb-metrics; the main thread keeps the program's name)."""
    try:
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return {}
    out = {}
    for tid in tids:
        try:
            comm = pathlib.Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        name = comm.removeprefix("fb-") if comm.startswith("fb-") else "main"
        out[name] = out.get(name, 0.0) + cpu_seconds(f"{pid}/task/{tid}")
    return out


def thread_delta(after, before):
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}


_SS = shutil.which("ss")


def tcp_bytes(pid, port):
    """TCP payload bytes that process `pid` sent and had acknowledged on its connections to
    127.0.0.1:`port`, from the kernel's tcp_info (ss -ti: bytes_sent, bytes_acked, bytes_received).
    These count everything the socket carried (TLS records and handshakes included), not the
    TCP/IP headers. None if ss is missing or no such connection exists."""
    if not _SS:
        return None
    done = subprocess.run([_SS, "-Htinp", "state", "established", f"( dport = :{port} )"],
                          capture_output=True, text=True, timeout=10)
    entries, current = [], ""
    for line in done.stdout.splitlines():
        if line and not line[0].isspace():
            if current:
                entries.append(current)
            current = line
        else:
            current += " " + line
    if current:
        entries.append(current)
    total = {"bytes_sent": 0, "bytes_acked": 0, "bytes_received": 0, "sockets": 0}
    for e in entries:
        if f"pid={pid}," not in e:
            continue
        total["sockets"] += 1
        for key in ("bytes_sent", "bytes_acked", "bytes_received"):
            m = re.search(rf"\b{key}:(\d+)", e)
            if m:
                total[key] += int(m.group(1))
    return total if total["sockets"] else None


# --------------------------------------------------------------------------------------------
# Statistics


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def slope(points):
    """Least-squares slope of (x, y) points (0 with fewer than 2)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return 0.0
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def last_line(path, prefix):
    """The last line of a text file that starts with prefix (reads the tail only)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(prefix):
            return line
    return None


def last_json(path):
    line = last_line(path, "{")
    return json.loads(line) if line else None
