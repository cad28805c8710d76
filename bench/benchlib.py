"""Plumbing for the fogbridge benchmark (bench/bench.py): processes, brokers, gateways, the C++
helper programs, and what the kernel says about them (/proc CPU and memory, `ss` byte counters).

Builds on tests/support/fogtest.py (brokers from deploy/mosquitto templates, the PKI, processes
stopped by PID with a parent-death signal) and fogstack.py (gateway configuration). Everything
started through a Stack is stopped by Stack.close(), also after Ctrl-C.
"""

import array
import json
import os
import pathlib
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
import types

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
import fogstack  # noqa: E402
import fogtest  # noqa: E402

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


# --------------------------------------------------------------------------------------------
# The stack: everything one benchmark run starts


def pki_dir(build_dir, max_age_days=30):
    """The benchmark's certificates, kept beside the build between runs (making them takes
    several seconds on a busy machine); made again once they are a month old."""
    d = pathlib.Path(build_dir) / "bench-pki"
    ca = d / "ca.crt"
    if ca.exists() and time.time() - ca.stat().st_mtime > max_age_days * 86400:
        shutil.rmtree(d, ignore_errors=True)
    return d


class Stack:
    """Owns the work directory, the PKI and every process of a run. Not thread-safe."""

    def __init__(self, work_dir, build_dir, gateway_id="gw-01", overrides=None):
        self.work = pathlib.Path(work_dir)
        self.overrides = overrides or {}  # section -> {key: value}, applied to every gateway
        self.build = pathlib.Path(build_dir)
        self.gateway_id = gateway_id
        self.pki = fogtest.make_pki(pki_dir(self.build), ("sensor-01",), gateway_id)
        self._procs = []
        self._brokers = []
        self._seq = 0
        self.profiles = []  # perf.data files written by Profiler

    def exe(self, *parts):
        path = self.build.joinpath(*parts)
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is not built")
        return str(path)

    def dir(self, name):
        self._seq += 1
        d = self.work / f"{self._seq:02d}-{name}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- processes

    def process(self, args, log_dir, name):
        p = fogtest.Process(args, log_dir, name=name)
        p.start()
        self._procs.append(p)
        return p

    def stop(self, proc, timeout=20):
        if proc is None:
            return None
        code = proc.stop(timeout)
        if proc in self._procs:
            self._procs.remove(proc)
        return code

    def broker(self, kind, name, port=None, extra_config=""):
        b = fogtest.Broker(kind, self.work, pki=self.pki if kind != "local-plain" else None,
                           port=port, name=f"{name}-{self._next()}", extra_config=extra_config)
        self._brokers.append(b)
        b.start()
        return b

    def stop_broker(self, b):
        if b is None:
            return
        b.stop(30)
        if b in self._brokers:
            self._brokers.remove(b)

    def _next(self):
        self._seq += 1
        return self._seq

    def close(self):
        """Stops everything still running: processes first, then brokers (LIFO)."""
        for p in reversed(self._procs):
            try:
                p.stop(5)
            except Exception:  # noqa: BLE001 - clean up as much as possible
                p.kill()
        self._procs.clear()
        for b in reversed(self._brokers):
            try:
                b.stop(10)
            except Exception:  # noqa: BLE001
                b.kill()
        self._brokers.clear()

    # -- the C++ helpers

    def drain(self, broker, log_dir, client_id, *args, name="drain"):
        return self.process([self.exe("bench", "bench-drain"), "--host", broker.host, "--port",
                             broker.port, "--client-id", client_id, *args], log_dir, name)

    def publish(self, broker, log_dir, *args, name="publish"):
        return self.process([self.exe("bench", "bench-publish"), "--host", broker.host, "--port",
                             broker.port, *args], log_dir, name)

    def sink(self, cloud, log_dir, *args, name="sink"):
        crt, key = self.pki.identity("observer")
        return Sink(self, self.process(
            [self.exe("bench", "bench-sink"), "--host", cloud.host, "--port", cloud.port, "--ca",
             self.pki.ca, "--cert", crt, "--key", key, "--client-id", f"bench-{name}-{self._next()}",
             "--dump", log_dir / f"{name}.pairs", *args], log_dir, name), log_dir / f"{name}.pairs")

    def sensor(self, broker, log_dir, device, *args):
        return self.process([self.exe("device-sdk", "fogbridge-sensor"), "--id", device, "--host",
                             broker.host, "--port", broker.port, *args], log_dir, f"sensor-{device}")

    # -- gateways and bridges

    def gateway(self, log_dir, local, cloud_port, sections=None, rules=None, gateway_id=None,
                name="gateway"):
        return Gateway(self, log_dir, local, cloud_port, sections, rules,
                       gateway_id or self.gateway_id, name)

    def bridge(self, log_dir, local, cloud, persistent=False):
        """A third Mosquitto that bridges devices/+/readings from the local broker to the cloud
        broker over mutual TLS at QoS 1 (see docs/benchmarks.md for the settings). persistent:
        the local broker keeps the bridge's session (cleansession false), so readings queue there
        while the bridge is down, and the bridge queues for the cloud connection while that one
        is still connecting (local_cleansession false; otherwise Mosquitto drops them)."""
        port = fogtest.free_port()
        crt, key = self.pki.gateway
        persistence = log_dir / "bridge-persistence"
        persistence.mkdir(exist_ok=True)
        conf = log_dir / "bridge.conf"
        lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            f"listener {port} {LOOPBACK}",
            "persistence false",
            # Unbounded, so the figure is what the bridge forwards, not what it drops.
            "max_queued_messages 0",
            "max_inflight_messages 100",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error", "log_type warning", "log_type notice",
            "",
            "connection local",
            f"address {LOOPBACK}:{local.port}",
            "topic devices/+/readings in 1",
            "clientid bench-bridge-in",
            f"cleansession {'false' if persistent else 'true'}",
            "notifications false",
            "bridge_protocol_version mqttv311",
            "",
            "connection cloud",
            f"address {LOOPBACK}:{cloud.port}",
            "topic devices/+/readings out 1",
            "clientid bench-bridge-out",
            "cleansession true",
            f"local_cleansession {'false' if persistent else 'true'}",
            "notifications false",
            "bridge_protocol_version mqttv311",
            f"bridge_cafile {self.pki.ca}",
            f"bridge_certfile {crt}",
            f"bridge_keyfile {key}",
        ]
        if os.geteuid() == 0:
            lines.insert(0, "user root")
        conf.write_text("\n".join(lines) + "\n")
        return self.process([fogtest.mosquitto_binary(), "-c", conf], log_dir, "bridge")


class Sink:
    """The cloud-side bench-sink: live counts from its progress lines, pairs at the end."""

    def __init__(self, stack, proc, pairs_path):
        self.stack = stack
        self.proc = proc
        self.pairs_path = pairs_path
        self.result = None

    def counts(self):
        """(readings, unique, messages, payload bytes) so far."""
        line = last_line(self.proc.stdout_path, "progress ")
        if not line:
            return (0, 0, 0, 0)
        f = line.split()
        return (int(f[2]), int(f[3]), int(f[4]), int(f[5]))

    def wait_subscribed(self, timeout=15):
        fogtest.wait_until(lambda: "subscribed" in self.proc.stdout() or not self.proc.running,
                           timeout, "the sink's subscription")
        if not self.proc.running:
            raise BenchError(f"bench-sink exited: {self.proc.stderr()[-500:]}")

    def wait_unique(self, n, timeout, idle=None, on_tick=None):
        """Waits until n distinct readings arrived, or nothing new came for `idle` seconds, or
        timeout. Returns the unique count."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while True:
            unique = self.counts()[1]
            now = time.monotonic()
            if unique != last:
                last, last_change = unique, now
            if unique >= n or now >= deadline or (idle and now - last_change >= idle):
                return unique
            if on_tick:
                on_tick(unique)
            time.sleep(0.05)

    def stop(self):
        self.stack.stop(self.proc)
        self.result = last_json(self.proc.stdout_path) or {}
        return self.result

    def pairs(self):
        """[(ts, arrival)] of every reading received."""
        a = array.array("d")
        try:
            with open(self.pairs_path, "rb") as f:
                a.frombytes(f.read())
        except OSError:
            return []
        return list(zip(a[0::2], a[1::2]))


class Gateway:
    """One fogbridge gateway with a config written by fogstack.gateway_config."""

    def __init__(self, stack, log_dir, local, cloud_port, sections, rules, gateway_id, name):
        self.stack = stack
        self.id = gateway_id
        self.log_dir = pathlib.Path(log_dir)
        self.store = self.log_dir / f"{name}.db"
        self.name = name
        self.local = local
        self.cloud_port = cloud_port
        base = {
            "gateway": {"id": gateway_id, "health_interval": 1},
            "local": {"ca_file": "", "cert_file": "", "key_file": "", "plain_tcp": True},
            "cloud": {"reconnect_min": 0.2, "reconnect_max": 1.0},
            "store": {"synchronous": "full"},
        }
        for section, values in list((sections or {}).items()) + list(stack.overrides.items()):
            base.setdefault(section, {}).update(values)
        cloud = types.SimpleNamespace(host=LOOPBACK, port=cloud_port)
        self.config = fogstack.gateway_config(self.log_dir / f"{name}.toml", stack.pki, local,
                                              cloud, self.store, base, rules)
        self.proc = None
        self.cpu_at_start = 0.0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        self.proc = self.stack.process([self.stack.exe("gateway", "fogbridge"), "--config",
                                        self.config], self.log_dir, self.name)
        return self

    def wait_local(self, timeout=30):
        """Waits until the gateway has subscribed on the local broker: its retained `online`
        arrives after its SUBSCRIBEs on the same connection."""
        c = fogtest.Collector(self.local, f"gateways/{self.id}/status", None)
        try:
            c.start()
            c.wait_for_message(lambda m: m.payload == b"online" and self._running(), timeout)
        finally:
            c.close()

    def _running(self):
        if not self.proc.running:
            raise BenchError(f"gateway exited ({self.proc.returncode}): {self.proc.stderr()[-800:]}")
        return True

    def wait_cloud(self, timeout=30):
        self.proc.wait_for_log(r"cloud broker .*: connected", timeout)

    def cpu(self):
        return cpu_seconds(self.pid)

    def memory(self):
        return memory_kb(self.pid)

    def upstream_bytes(self):
        return tcp_bytes(self.pid, self.cloud_port)

    def stop(self):
        code = self.stack.stop(self.proc, 30)
        return code

    def last_health(self):
        """The last health report it published, read back as the retained message."""
        c = fogtest.Collector(self.local, f"gateways/{self.id}/health", None)
        try:
            c.start()
            return c.wait_for_message(f"gateways/{self.id}/health", 5).json()
        except AssertionError:
            return None
        finally:
            c.close()


class StoreWatch:
    """Read-only look into a gateway's SQLite store while it runs (WAL: readers never block
    the writer). Readings get ids 1, 2, 3 ... in commit order and leave in id order."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.db = None

    def _open(self):
        if self.db is None:
            if not self.path.exists():
                return None
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self.db

    def span(self):
        """(min id, max id) of the readings held, (None, None) when empty or not there yet."""
        db = self._open()
        if db is None:
            return (None, None)
        try:
            # Two subqueries: SQLite answers a lone min() or max() from the rowid b-tree in
            # O(log n), but min() and max() in one SELECT scan the whole table - a core's worth
            # of the machine the benchmark measures, at 1M rows.
            return db.execute("SELECT (SELECT min(id) FROM readings), "
                              "(SELECT max(id) FROM readings)").fetchone()
        except sqlite3.OperationalError:
            return (None, None)  # the schema is not created yet

    def close(self):
        if self.db is not None:
            self.db.close()
            self.db = None


def example_filter(path=None):
    """filter.default and filter.rules of a TOML file (default: the example configuration,
    gateway/config/fogbridge.example.toml)."""
    path = path or REPO / "gateway" / "config" / "fogbridge.example.toml"
    with open(path, "rb") as f:
        conf = tomllib.load(f)
    filt = conf.get("filter", {})
    return filt.get("default", {"deadband": 0, "heartbeat": 600}), filt.get("rules", [])


def install_sigterm_as_interrupt():
    def handler(_sig, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


class Profiler:
    """`perf record` attached to one process for a measurement window (--perf). perf is optional:
    without it, or when the kernel refuses, the window just runs unprofiled."""

    PERF = shutil.which("perf")

    def __init__(self, stack, enabled):
        self.stack = stack
        self.enabled = enabled and self.PERF is not None
        self.proc = None

    def start(self, pid, log_dir, name):
        if not self.enabled or pid is None:
            return
        out = pathlib.Path(log_dir) / f"{name}.perf.data"
        self.proc = self.stack.process([self.PERF, "record", "-q", "-F", "499", "--call-graph",
                                        "dwarf,16384", "-p", pid, "-o", out], log_dir,
                                       f"perf-{name}")
        self.stack.profiles.append(str(out))
        time.sleep(0.3)  # let perf attach before the window opens

    def stop(self):
        if self.proc is None:
            return
        self.proc.signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except AssertionError:
            pass
        self.stack.stop(self.proc)
        self.proc = None
