"""Everything one benchmark run starts (re-exported by benchlib): the Stack that owns the work
directory, the PKI and every process, the bench-sink reader, gateways, a read-only look into a
gateway's store, and perf. Builds on tests/support/fogtest.py (brokers, PKI, processes stopped by
PID with a parent-death signal) and fogstack.py (gateway configuration). Not thread-safe."""

import array
import os
import pathlib
import shutil
import signal
import sqlite3
import time
import types

from bench_common import BenchError, LOOPBACK, cpu_seconds, last_json, last_line, memory_kb, tcp_bytes
import fogstack  # noqa: E402 - bench_common put tests/support on the path
import fogtest  # noqa: E402


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
