"""Step 10 of the fogbridge benchmark (docs/benchmarks.md): ten thousand boards on one gateway
(fleet10k_rss_kb, fleet10k_cpu_ratio against 8 boards at the same reading rate, same config),
then a SIGKILL with a million readings queued and the boards' filter state stored, and the time
from exec until the restarted gateway commits a new reading (restart_ready_s)."""

import re
import resource
import sqlite3
import time
import urllib.request

import fogtest
from benchlib import BenchError, StoreWatch, example_filter, last_line, memory_kb, thread_cpu

NAME = "ten thousand boards, then a restart with a million readings queued"
SENSORS = 4


def add_args(p):
    p.add_argument("--boards", type=int, help="step 10: board connections (10000; quick 2000)")
    p.add_argument("--board-interval", type=float,
                   help="step 10: seconds between a board's messages of 4 readings (10; quick 2, "
                        "so the quick run keeps the full run's 4,000 readings/s)")
    p.add_argument("--fleet-window", type=float,
                   help="step 10: seconds of CPU measurement after the warm-up (30; quick 4)")
    p.add_argument("--restart-n", type=int,
                   help="step 10: readings queued before the SIGKILL (1000000; quick 50000)")


def finish_args(a):
    q = a.quick
    a.boards = a.boards or (2000 if q else 10_000)
    a.board_interval = a.board_interval or (2.0 if q else 10.0)
    a.fleet_window = a.fleet_window or (4.0 if q else 30.0)
    a.restart_n = a.restart_n or (50_000 if q else 1_000_000)


def raise_fd_limit():
    """Brokers and publishers inherit it: one descriptor per board (the hard limit is the most
    a process without CAP_SYS_RESOURCE may have)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


class FleetStep:
    """Runs step 10 on a Bench's stack; `run` returns the figures."""

    def __init__(self, bench):
        self.b = bench
        self.a = bench.a
        self.stack = bench.stack
        self.progress = bench.progress

    def run(self):
        limit = raise_fd_limit()
        if limit < self.a.boards + 64:
            raise BenchError(f"RLIMIT_NOFILE is {limit}: too low for {self.a.boards} boards")
        d = self.stack.dir("fleet10k")
        cloud = self.stack.broker("cloud", "cloud-fleet10k")
        out = {"fleet10k_boards": self.a.boards, "fleet10k_series": self.a.boards * SENSORS,
               "fleet10k_interval_s": self.a.board_interval,
               "fleet10k_quick_boards": self.a.boards < 10_000}
        rate = self.a.boards * SENSORS / self.a.board_interval
        t0 = time.monotonic()
        small = self.measure(d, cloud, "fleet8", 8, 8 / (rate / SENSORS))
        out.update({f"fleet8_{k}": v for k, v in small.pop("figures").items()})
        self.close(small)
        t1 = time.monotonic()
        big = self.measure(d, cloud, "fleet10k", self.a.boards, self.a.board_interval)
        out["fleet_phase_seconds"] = {"fleet8": round(t1 - t0, 1),
                                      "fleet10k": round(time.monotonic() - t1, 1)}
        out.update({f"fleet10k_{k}": v for k, v in big.pop("figures").items()})
        out["fleet10k_rss_kb"] = out["fleet10k_rss_hwm_kb"]
        if out.get("fleet8_cpu_s_per_100k") and out.get("fleet10k_cpu_s_per_100k"):
            out["fleet10k_cpu_ratio"] = out["fleet10k_cpu_s_per_100k"] / out["fleet8_cpu_s_per_100k"]
        try:
            out.update(self.restart(d, cloud, big))
        finally:
            self.close(big)
            self.stack.stop_broker(cloud)
        return out

    def close(self, ctx):
        for key in ("pub", "fill"):
            if ctx.get(key):
                self.stack.stop(ctx[key])
        self.stack.stop(ctx["gw"].proc)
        self.stack.stop_broker(ctx["local"])

    def gateway(self, d, local, cloud, name):
        default, rules = example_filter(self.a.rules)
        sections = {"batch": {"max_delay": self.a.batch_delay},
                    "gateway": {"health_interval": 10},
                    "metrics": {"listen": "127.0.0.1", "port": fogtest.free_port()},
                    "filter.default": default}
        gw = self.stack.gateway(d, local, cloud.port, sections=sections, rules=rules, name=name)
        gw.metrics_port = sections["metrics"]["port"]
        return gw

    def fleet(self, local, d, name, boards, interval, *args):
        return self.stack.process(
            [self.stack.exe("bench", "bench-fleet"), "--host", local.host, "--port", local.port,
             "--boards", boards, "--interval", interval, "--prefix", name, "--boot", self.b.boot(),
             "--seed", self.a.seed, "--connect-rate", 2000, *args], d, f"fleet-{name}")

    def measure(self, d, cloud, name, boards, interval):
        """A gateway with `boards` boards at one message of 4 readings per `interval`: the warm-up,
        then CPU and readings received over --fleet-window, and the gateway's memory at the end."""
        local = self.stack.broker("local-plain", f"local-{name}")
        gw = self.gateway(d, local, cloud, f"gateway-{name}")
        gw.start()
        gw.wait_local()
        gw.wait_cloud()
        pub = self.fleet(local, d, name, boards, interval)
        ctx = {"gw": gw, "local": local, "pub": pub, "boards": boards, "name": name,
               "interval": interval}
        self.warm_up(pub, gw, name, boards, interval)
        cpu0, threads0 = gw.cpu(), thread_cpu(gw.pid)
        got0, t0 = metric(gw.metrics_port, "fogbridge_readings_received_total"), time.monotonic()
        while time.monotonic() < t0 + self.a.fleet_window:
            self.progress.update(f"{name}: measuring")
            time.sleep(0.2)
            if not gw.proc.running:
                raise BenchError(f"{name}: the gateway exited: {gw.proc.stderr()[-500:]}")
        got1, t1 = metric(gw.metrics_port, "fogbridge_readings_received_total"), time.monotonic()
        cpu, threads = gw.cpu() - cpu0, thread_cpu(gw.pid)
        mem = gw.memory()
        got = (got1 or 0) - (got0 or 0)
        ctx["figures"] = {
            "readings": got, "rps": got / (t1 - t0),
            "cpu_s_per_100k": cpu / got * 1e5 if got else None,
            "thread_cpu_s": {k: round(v - threads0.get(k, 0), 3) for k, v in threads.items()},
            "rss_hwm_kb": mem["hwm"], "rss_now_kb": mem["rss"],
            "broker_rss_kb": memory_kb(local.process.pid)["hwm"],
        }
        return ctx

    def warm_up(self, pub, gw, name, boards, interval, settle=None):
        """Until every board is connected, then `settle` seconds: by default one interval (each
        board's series seen) plus 2 s (quick: 1 s)."""
        deadline = time.monotonic() + 60 + boards / 200
        while True:
            line = last_line(pub.stdout_path, "progress ")
            connected = int(line.split()[2]) if line else 0
            if connected >= boards:
                break
            if not pub.running or time.monotonic() > deadline:
                raise BenchError(f"{name}: {connected} of {boards} boards connected: "
                                 f"{pub.stderr()[-300:]}")
            self.progress.update(f"{name}: {connected:,}/{boards:,} boards connected")
            time.sleep(0.2)
        if settle is None:
            settle = interval + (1 if self.a.quick else 2)
        t_warm = time.monotonic() + settle
        while time.monotonic() < t_warm:
            self.progress.update(f"{name}: warming up")
            time.sleep(0.2)
            if not gw.proc.running:
                raise BenchError(f"{name}: the gateway exited: {gw.proc.stderr()[-500:]}")

    def restart(self, d, cloud, ctx):
        """The boards and the cloud broker go away; fill boards push the store to --restart-n
        readings; the boards come back (a new boot) and run steady; SIGKILL; the same gateway
        starts again on the same store while they go on."""
        gw, local = ctx["gw"], ctx["local"]
        n = self.a.restart_n
        # Without the boards while the store fills: the fill holds the gateway at its limit, and
        # boards without acks for 10 s would re-send into it.
        self.stack.stop(ctx.pop("pub"))
        self.stack.stop_broker(cloud)
        watch = StoreWatch(gw.store)
        lo, hi = watch.span()
        queued = 0 if lo is None else hi - lo + 1
        if queued < n:
            # Steps far past the example rules' deadbands: every reading is kept.
            ctx["fill"] = self.fleet(local, d, "fill", 64, 0, "--window", 4, "--per-message", 25,
                                     "--step-scale", 400, "--count", int((n - queued) * 1.05))
        t_fill = time.monotonic()
        deadline = t_fill + max(120, n / 2000)
        while queued < n:
            lo, hi = watch.span()
            queued = 0 if lo is None else hi - lo + 1
            if time.monotonic() > deadline or not gw.proc.running:
                raise BenchError(f"restart: the store holds {queued:,} of {n:,} readings")
            self.progress.update(f"restart: {queued:,}/{n:,} readings queued")
            time.sleep(0.2)
        fill_s = time.monotonic() - t_fill
        if ctx.get("fill"):
            self.stack.stop(ctx.pop("fill"))
        watch.close()
        ctx["pub"] = self.fleet(local, d, ctx["name"], ctx["boards"], ctx["interval"])
        # Their series have filter state already; quick waits 1 s, the full run an interval.
        self.warm_up(ctx["pub"], gw, "restart", ctx["boards"], ctx["interval"],
                     1.0 if self.a.quick else None)
        gw.proc.kill()
        db = sqlite3.connect(f"file:{gw.store}?mode=ro", uri=True, timeout=5)
        try:
            top = db.execute("SELECT max(id) FROM readings").fetchone()[0]
            queued = top - db.execute("SELECT min(id) FROM readings").fetchone()[0] + 1
            states = db.execute("SELECT count(*) FROM filter_state").fetchone()[0]
        finally:
            db.close()
        self.progress.update(f"restart: SIGKILL with {queued:,} readings queued; starting again")
        t0 = time.monotonic()
        gw.start()
        watch = StoreWatch(gw.store)
        t_ready = t_started = t_subscribed = None
        deadline = t0 + 60
        while t_ready is None:
            now = time.monotonic()
            if t_started is None and "started: gateway" in (gw.proc.stderr() + gw.proc.stdout()):
                t_started = now
            if t_subscribed is None and re.search(r"local broker .*: subscribed",
                                                  gw.proc.stderr() + gw.proc.stdout()):
                t_subscribed = now
            if (watch.span()[1] or 0) > top:
                t_ready = now
            if now > deadline or not gw.proc.running:
                raise BenchError(f"restart: no new reading within 60 s: {gw.proc.stderr()[-500:]}")
            time.sleep(0.01)
        watch.close()
        mem = gw.memory()
        return {"restart_ready_s": t_ready - t0, "restart_queued": queued,
                "restart_filter_states": states,
                "restart_started_log_s": t_started - t0 if t_started else None,
                "restart_subscribed_log_s": t_subscribed - t0 if t_subscribed else None,
                "restart_rss_kb": mem["rss"], "restart_fill_s": fill_s}



def table_rows(r, fmt, goal):
    kb = 1024
    boards = r.get("fleet10k_boards")
    label = f"{boards:,} boards" if boards else "boards"
    return [
        ("10", f"{label}, 4 sensors: gateway RSS (VmHWM)", fmt(r.get("fleet10k_rss_kb"), "MB"), "",
         "<= 64 MB", goal(r.get("fleet10k_rss_kb"), "<=", 64 * kb)),
        ("10", "  CPU per 100k: boards / 8 boards", "/".join(fmt(r.get(k)) for k in (
            "fleet10k_cpu_s_per_100k", "fleet8_cpu_s_per_100k")), "s", "", ""),
        ("10", "  ratio (fleet10k_cpu_ratio)", fmt(r.get("fleet10k_cpu_ratio"), "x"), "", "<= 1.2",
         goal(r.get("fleet10k_cpu_ratio"), "<=", 1.2)),
        ("10", f"restart, {fmt(r.get('restart_queued'))} queued: exec to a new reading",
         fmt(r.get("restart_ready_s")), "s", "<= 2 s", goal(r.get("restart_ready_s"), "<=", 2)),
    ]


def summary(r, fmt):
    return (f"{r.get('fleet10k_boards')} boards: RSS {fmt(r.get('fleet10k_rss_kb'), 'MB')}, "
            f"CPU ratio {fmt(r.get('fleet10k_cpu_ratio'), 'x')}; restart with "
            f"{fmt(r.get('restart_queued'))} queued: {fmt(r.get('restart_ready_s'))} s")
