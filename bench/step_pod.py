"""Benchmark step "pod": the highest live rate the gateway holds inside the K3s pod limits of
deploy/k3s (500m CPU, 512 MiB), and the same for Mosquitto's bridge. Only the forwarder (the
gateway, or the bridging Mosquitto) goes into a cgroup this step creates and removes; brokers,
publishers and the sink stay outside. See docs/benchmarks.md."""

import os
import pathlib
import time

from benchlib import (BenchError, cpu_seconds, last_json, last_line, percentile, slope, thread_cpu,
                      thread_delta)

BATCH_TOPIC = "fogbridge/+/batch"
READINGS_TOPIC = "devices/+/readings"
CPU_QUOTA = 0.5  # cores: the manifest's 500m
MEMORY_LIMIT = 512 << 20  # the manifest's 512Mi
PERIOD_US = 100_000


def add_args(p):
    p.add_argument("--pod-seconds", type=float,
                   help="pod: seconds of each rate tried (15; quick 2)")
    p.add_argument("--pod-steps", type=int, help="pod: rates tried after the flat-out probe, "
                   "per forwarder (4; quick 1)")
    p.add_argument("--pod-forward-n", type=int, help="pod: backlog each forwarder drains in the "
                   "cgroup (200,000; quick 10,000)")
    p.add_argument("--pod-per-message", type=int, default=10,
                   help="pod: readings in one publisher message (an array, as the SDK's "
                   "max_readings_per_message; 10)")
    p.add_argument("--pod-live", choices=["on", "off"], default="on",
                   help="pod: run the live search too (on) or only the forwarding figure")


def set_defaults(a):
    a.pod_seconds = a.pod_seconds or (2 if a.quick else 15)
    a.pod_steps = a.pod_steps if a.pod_steps is not None else (1 if a.quick else 4)
    a.pod_forward_n = a.pod_forward_n or (10_000 if a.quick else 200_000)


class Cgroup:
    """A cgroup with the pod's CPU quota and memory limit: cgroup v2 where the unified hierarchy
    has the cpu and memory controllers, else the v1 cpu and memory hierarchies. Needs root.
    It also gets the top CPU weight, so that other load on the machine does not stand in for
    the quota: what holds the forwarder back is its 0.5 core, not a busy neighbour."""

    def __init__(self, name):
        self.name = name
        self.v2 = None
        self.dirs = []
        root2 = pathlib.Path("/sys/fs/cgroup")
        ctrl = root2 / "cgroup.controllers"
        if ctrl.exists() and {"cpu", "memory"} <= set(ctrl.read_text().split()):
            self.v2 = root2 / name
        elif not (pathlib.Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists()
                  and pathlib.Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()):
            raise BenchError("no cgroup with cpu and memory controllers (v2 or v1) to limit with")

    @property
    def kind(self):
        return "cgroup v2 (cpu.max, memory.max)" if self.v2 else \
            "cgroup v1 (cpu.cfs_quota_us, memory.limit_in_bytes)"

    def create(self):
        try:
            if self.v2:
                sub = self.v2.parent / "cgroup.subtree_control"
                sub.write_text("+cpu +memory")
                self.v2.mkdir()
                self.dirs = [self.v2]
                (self.v2 / "cpu.max").write_text(f"{int(CPU_QUOTA * PERIOD_US)} {PERIOD_US}")
                (self.v2 / "cpu.weight").write_text("10000")
                (self.v2 / "memory.max").write_text(str(MEMORY_LIMIT))
                (self.v2 / "memory.swap.max").write_text("0")
            else:
                cpu = pathlib.Path("/sys/fs/cgroup/cpu") / self.name
                mem = pathlib.Path("/sys/fs/cgroup/memory") / self.name
                cpu.mkdir()
                self.dirs.append(cpu)
                mem.mkdir()
                self.dirs.append(mem)
                (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(int(CPU_QUOTA * PERIOD_US)))
                (cpu / "cpu.shares").write_text("262144")
                (mem / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT))
        except OSError as e:
            self.remove()
            raise BenchError(f"cannot create cgroup {self.name} ({e}); the pod step needs root")
        return self

    def add(self, pid):
        """Moves a process (all its threads) in; done right after its exec, so what it charged
        to its old cgroup before (recent kernels no longer move charges) is its loader's pages."""
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    def stats(self):
        """Throttling and memory so far: {nr_periods, nr_throttled, throttled_s, memory_peak_kb,
        memory_limit_hits}."""
        out = {}
        cpu = self.dirs[0]
        stat = dict(line.split() for line in (cpu / "cpu.stat").read_text().splitlines()
                    if len(line.split()) == 2)
        out["nr_periods"] = int(stat.get("nr_periods", 0))
        out["nr_throttled"] = int(stat.get("nr_throttled", 0))
        if "throttled_usec" in stat:
            out["throttled_s"] = int(stat["throttled_usec"]) / 1e6
        else:
            out["throttled_s"] = int(stat.get("throttled_time", 0)) / 1e9
        if self.v2:
            peak = self.v2 / "memory.peak"
            out["memory_peak_kb"] = int(peak.read_text()) // 1024 if peak.exists() else None
            text = (self.v2 / "memory.events").read_text()
            events = dict(line.split() for line in text.splitlines())
            out["memory_limit_hits"] = int(events.get("max", 0))
        else:
            mem = self.dirs[1]
            out["memory_peak_kb"] = int((mem / "memory.max_usage_in_bytes").read_text()) // 1024
            out["memory_limit_hits"] = int((mem / "memory.failcnt").read_text())
        return out

    def remove(self):
        """Removes the cgroup (its processes, stopped by then, leave it empty)."""
        for d in reversed(self.dirs):
            deadline = time.monotonic() + 5
            while True:
                try:
                    d.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        self.dirs = []


def _delta(after, before):
    return {k: (round(v - before[k], 3) if isinstance(v, (int, float)) and k in before
                and k not in ("memory_peak_kb",) else v) for k, v in after.items()}


class PodStep:
    """Runs the search for one forwarder at a time; `bench` is the steps.Bench instance."""

    def __init__(self, bench):
        self.b = bench
        self.a = bench.a
        self.stack = bench.stack
        self.p99_limit_ms = self.a.batch_delay * 1000 + 100

    def run(self):
        load0 = list(os.getloadavg())
        t0 = time.monotonic()
        out = {"pod_cpu_quota_cores": CPU_QUOTA, "pod_memory_limit_mb": MEMORY_LIMIT >> 20,
               "pod_readings_per_message": self.a.pod_per_message}
        out.update(self.forward("gateway"))
        out.update(self.forward("bridge", out["pod_gateway_forward"]["cut"]))
        if self.a.pod_live == "on":
            out.update(self.search("gateway"))
            out.update(self.search("bridge"))
        out["pod_step_seconds"] = round(time.monotonic() - t0, 1)
        out["pod_loadavg_start"] = [round(x, 1) for x in load0]
        out["pod_loadavg_end"] = [round(x, 1) for x in os.getloadavg()]
        return out

    # -- forwarding a backlog inside the limits (step 8's run, the forwarder in the cgroup)

    def forward(self, kind, cut=None):
        """Step 8's backlog drain with only the forwarder in a fresh cgroup: nothing else runs,
        so the publishers and the local broker are not what limits; nr_throttled > 0 shows the
        quota was binding."""
        group = Cgroup(f"fogbench-podfwd-{os.getpid()}-{kind}").create()
        try:
            res = self.b.forward_backlog(kind, cut, n=self.a.pod_forward_n,
                                         on_start=lambda proc: group.add(proc.pid))
            cg = group.stats()
        finally:
            group.remove()
        res["cgroup"] = cg
        seconds = res.get("seconds") or 0
        res["throttled_share"] = round(cg["throttled_s"] / seconds, 3) if seconds else None
        res["cores"] = round(res["cpu_s"] / seconds, 3) if seconds else None
        share = cg["nr_throttled"] / max(cg["nr_periods"], 1)
        per = res.get("cpu_s_per_100k")
        name = "pod_forward" if kind == "gateway" else "pod_bridge_forward"
        return {
            f"{name}_rps": res.get("rps"),
            f"{name}_cpu_s_per_100k": round(per, 3) if per else None,
            f"{name}_quota_rps_projected": CPU_QUOTA / per * 1e5 if per else None,
            f"{name}_cores": res["cores"],
            f"{name}_nr_throttled": cg["nr_throttled"],
            # Binding: throttled in a quarter of the periods it ran, or the quota (nearly) used;
            # a few throttled periods are bursts, not the limit.
            f"{name}_quota_binding": share >= 0.25 or (res["cores"] or 0) >= 0.9 * CPU_QUOTA,
            f"{name}_lost": res.get("lost"),
            f"pod_{kind}_forward": res,
        }

    # -- one forwarder, live

    def search(self, kind):
        d = self.stack.dir(f"pod-{kind}")
        local = self.stack.broker("local-plain", f"local-pod-{kind}")
        cloud = self.stack.broker("cloud", f"cloud-pod-{kind}")
        group = Cgroup(f"fogbench-pod-{os.getpid()}-{kind}")
        fwd = None
        try:
            group.create()
            if kind == "gateway":
                gw = self.stack.gateway(d, local, cloud.port, name="gateway-pod",
                                        sections={"batch": {"max_delay": self.a.batch_delay},
                                                  "gateway": {"health_interval": 10}})
                gw.start()
                fwd = gw.proc
                group.add(fwd.pid)
                gw.wait_local()
                gw.wait_cloud()
            else:
                fwd = self.stack.bridge(d, local, cloud)
                group.add(fwd.pid)
            topic = BATCH_TOPIC if kind == "gateway" else READINGS_TOPIC
            sink = self.stack.sink(cloud, d, "--topic", topic, name="sink-pod-probe")
            sink.wait_subscribed()
            self.b.probe(local, sink, d)
            sink.stop()
            tries = self.tries(kind, d, local, cloud, topic, fwd, group)
        finally:
            if fwd is not None:
                self.stack.stop(fwd)
            self.stack.stop_broker(cloud)
            self.stack.stop_broker(local)
            group.remove()
        held = [t for t in tries if t["held"]]
        best = max(held, key=lambda t: t["rate"]) if held else None
        limit = self.limit(tries, best)
        # What the quota would allow if CPU were the only limit: its share of a core over the
        # CPU the forwarder spent per reading in the try that moved the most.
        most = max(tries, key=lambda t: t["arrived"])
        per = most["cpu_s_per_100k"]
        return {
            f"pod_{kind}_cpu_s_per_100k": per,
            f"pod_{kind}_quota_rps_projected": CPU_QUOTA / per * 1e5 if per else None,
            f"pod_{'live' if kind == 'gateway' else 'bridge'}_rps": best["rate"] if best else None,
            f"pod_{kind}_p99_ms": best["p99_ms"] if best else None,
            f"pod_{kind}_limited_by": limit,
            f"pod_{kind}_tries": tries,
            "pod_cgroup": group.kind,
        }

    def tries(self, kind, d, local, cloud, topic, fwd, group):
        """A flat-out probe says roughly what the forwarder moves; then a bisection between the
        highest rate that held and the lowest that did not, `--pod-steps` rates in all."""
        out = [self.attempt(kind, d, local, cloud, topic, fwd, group, 0)]
        flat = out[0]
        # A forwarder that kept up with the publishers flat out is not what limits: start just
        # under what they offered (and go up from there until they cannot offer more).
        # One that fell behind drained its backlog later at what it can move; while the publishers
        # ran, it gave ingest the CPU first, so its delivered rate then understates that.
        start = 0.95 * (flat["offered_rps"] or 0) if flat["queue_held"] else \
            0.9 * max(flat["delivered_rps"] or 0, flat["drained_rps"] or 0)
        lo, hi = 0.0, None
        rate = _round_rate(start or 1000)
        for _ in range(self.a.pod_steps):
            if out[-1]["arrived"] < out[-1]["published"]:
                break  # still behind: the next try would start on a backlog
            t = self.attempt(kind, d, local, cloud, topic, fwd, group, rate)
            out.append(t)
            if t["held"]:
                lo = rate
            else:
                hi = rate
            rate = _round_rate((lo + hi) / 2 if hi else lo * 1.5)
            if any(x["rate"] == rate for x in out):
                break
        return out

    def attempt(self, kind, d, local, cloud, topic, fwd, group, rate):
        """Publishers at `rate` (0: flat out) for --pod-seconds; the backlog (acknowledged by the
        local broker, not yet in the cloud) is sampled, then the latency read from the sink."""
        label = f"{kind}-{rate or 'flat-out'}"
        sink = self.stack.sink(cloud, d, "--topic", topic, name=f"sink-pod-{label}")
        sink.wait_subscribed()
        seconds = self.a.pod_seconds
        cg0, cpu0, th0 = group.stats(), cpu_seconds(fwd.pid), thread_cpu(fwd.pid)
        pub = self.stack.publish(local, d, "--devices", self.a.live_devices, "--rate", rate,
                                 "--duration", seconds, "--boot", self.b.boot(), "--seed",
                                 self.a.seed, "--per-message", self.a.pod_per_message,
                                 "--drain-timeout", 30, name=f"publish-pod-{label}")
        samples = []
        while pub.running:
            line = last_line(pub.stdout_path, "progress ")
            acked = int(line.split()[3]) if line else 0
            unique = sink.counts()[1]
            samples.append((time.time(), acked, unique))
            self.b.progress.update(f"pod {label}: {acked:,} published, {unique:,} in the cloud, "
                                   f"backlog {acked - unique:,}")
            time.sleep(0.25)
        res = last_json(pub.stdout_path) or {}
        acked = res.get("acked", 0)
        t0, t1 = res.get("t_start", samples[0][0] if samples else 0), res.get("t_end", time.time())
        # A rate that holds catches up within about a batch delay; one that does not is not
        # worth waiting for (the next try needs an empty local queue, so wait for that).
        got = sink.wait_unique(acked, max(10, 3 * seconds), idle=5)
        t_done = time.time()
        cg1, cpu1, th1 = group.stats(), cpu_seconds(fwd.pid), thread_cpu(fwd.pid)
        sink.stop()
        warm = min(self.a.warmup, seconds / 3)
        window = [(t - t0, a - u) for t, a, u in samples if t0 + warm <= t <= t1]
        growth = slope(window)
        offered = acked / (t1 - t0) if t1 > t0 else None
        pairs = sink.pairs()
        arrived_in = sum(1 for _, a in pairs if t0 + warm <= a <= t1)
        cool = min(self.a.batch_delay + 0.5, (t1 - t0 - warm) / 2)
        lat = sorted((a - ts) * 1000 for ts, a in pairs if t0 + warm <= ts <= t1 - cool)
        p99 = percentile(lat, 0.99)
        delivered = arrived_in / (t1 - t0 - warm) if t1 - t0 > warm else None
        # The backlog is a sawtooth up to one batch delay's worth of readings: over a short
        # window its slope is noise unless it grows by more than that (a queue that does grow
        # also shows in the p99 of the readings made late in the window).
        span = max(t1 - t0 - warm, 1e-3)
        delay = self.a.batch_delay if kind == "gateway" else 0.0  # the bridge does not batch
        sawtooth = (offered or 0) * (delay + 0.1) / span
        held_queue = growth <= max(0.02 * (offered or 0), sawtooth if rate else 0, 50)
        offered_ok = rate == 0 or (offered or 0) >= 0.95 * rate
        wall = t1 - t0
        return {
            "rate": rate, "seconds": round(wall, 2), "published": acked, "arrived": got,
            "offered_rps": offered, "delivered_rps": delivered,
            "drained_rps": got / (t_done - t0) if t_done > t0 else None,
            "backlog_growth_per_s": round(growth, 1), "p99_ms": p99,
            "p50_ms": percentile(lat, 0.5),
            "offered_ok": offered_ok, "queue_held": held_queue,
            "held": bool(rate and offered_ok and held_queue and p99 is not None
                         and p99 <= self.p99_limit_ms and got >= acked),
            "cpu_cores": round((cpu1 - cpu0) / wall, 3) if wall > 0 else None,
            "cpu_s_per_100k": round((cpu1 - cpu0) / got * 1e5, 3) if got else None,
            "thread_cpu_s": thread_delta(th1, th0),
            "cgroup": _delta(cg1, cg0),
            "publisher_cpu_s": res.get("cpu_s"),
            "loadavg": round(os.getloadavg()[0], 1),
        }

    def limit(self, tries, best):
        """What stopped the next rate up: the first failed try above the best one."""
        above = [t for t in tries if t["rate"] and not t["held"]
                 and (best is None or t["rate"] > best["rate"])]
        if not above:
            flat = tries[0]
            if flat["queue_held"]:
                return (f"not the forwarder: flat out the publishers offered "
                        f"{flat['offered_rps']:.0f}/s and it kept up, using {flat['cpu_cores']} "
                        f"of its {CPU_QUOTA} cores")
            return "not reached (every rate tried held)"
        t = min(above, key=lambda x: x["rate"])
        if not t["offered_ok"]:
            return "the publishers (outside the cgroup) could not offer the rate"
        cg = t["cgroup"]
        throttled = cg.get("throttled_s", 0) / max(t["seconds"], 1e-3)
        why = []
        if cg.get("memory_limit_hits"):
            why.append("memory limit")
        if (t["cpu_cores"] or 0) >= 0.9 * CPU_QUOTA or throttled > 0.1:
            why.append(f"CPU quota ({t['cpu_cores']} cores used, throttled "
                       f"{throttled * 100:.0f} % of the time)")
        if not t["queue_held"]:
            why.append(f"backlog grew {t['backlog_growth_per_s']:.0f}/s")
        if t["p99_ms"] is not None and t["p99_ms"] > self.p99_limit_ms:
            why.append(f"p99 {t['p99_ms']:.0f} ms")
        return "; ".join(why) or "not held"


def _round_rate(r):
    step = 1000 if r >= 10_000 else 100
    return max(step, int(round(r / step)) * step)


def run(bench):
    return PodStep(bench).run()


def table_rows(r, fmt, goal):
    """The step's rows of bench.py's table."""
    def tried(kind):
        return ", ".join(f"{t['rate'] or 'flat out'}: {'held' if t['held'] else 'no'}"
                         for t in r.get(f"pod_{kind}_tries", []))
    def fwd(kind, name):
        f = r.get(f"pod_{kind}_forward") or {}
        cg = f.get("cgroup") or {}
        return [
            ("pod", f"  {kind} forwards a backlog of {f.get('n', 0):,}", fmt(r.get(f"{name}_rps")),
             "readings/s", "", "quota binding" if r.get(f"{name}_quota_binding") else
             "quota not binding"),
            ("pod", "    cores used; throttled periods; lost",
             f"{fmt(f.get('cores'))}; {cg.get('nr_throttled', '-')}/{cg.get('nr_periods', '-')}; "
             f"{f.get('lost', '-')}", "", "", ""),
            ("pod", "    CPU per 100k; the quota over it (projected)",
             f"{fmt(r.get(f'{name}_cpu_s_per_100k'))} s; "
             f"{fmt(r.get(f'{name}_quota_rps_projected'))}", "readings/s", "", ""),
        ]
    return [("pod", "in 500m CPU / 512 MiB, from a backlog (nothing else running):", "", "", "",
             "")] + fwd("gateway", "pod_forward") + fwd("bridge", "pod_bridge_forward") + [
        ("pod", "in 500m CPU / 512 MiB: gateway holds", fmt(r.get("pod_live_rps")), "readings/s",
         ">= 50,000", goal(r.get("pod_live_rps"), ">=", 50_000)),
        ("pod", "  rates tried (readings/s)", "", "", "", tried("gateway") or "-"),
        ("pod", "  limited by", "", "", "", r.get("pod_gateway_limited_by") or "-"),
        ("pod", "  CPU per 100k; the quota over it (projected)",
         f"{fmt(r.get('pod_gateway_cpu_s_per_100k'))} s; "
         f"{fmt(r.get('pod_gateway_quota_rps_projected'))}", "readings/s", "", ""),
        ("pod", "  Mosquitto bridge holds", fmt(r.get("pod_bridge_rps")), "readings/s", "", ""),
        ("pod", "  rates tried (readings/s)", "", "", "", tried("bridge") or "-"),
        ("pod", "  limited by", "", "", "", r.get("pod_bridge_limited_by") or "-"),
        ("pod", "  CPU per 100k; the quota over it (projected)",
         f"{fmt(r.get('pod_bridge_cpu_s_per_100k'))} s; "
         f"{fmt(r.get('pod_bridge_quota_rps_projected'))}", "readings/s", "", ""),
    ]


def summary(r):
    def k(v):
        return "-" if v is None else f"{v / 1000:.1f}k/s"
    return (f"forwarding gateway {k(r.get('pod_forward_rps'))}, bridge "
            f"{k(r.get('pod_bridge_forward_rps'))}; live "
            f"gateway holds {k(r.get('pod_live_rps'))}, bridge {k(r.get('pod_bridge_rps'))} "
            f"(load average {r.get('pod_loadavg_start', ['-'])[0]})")
