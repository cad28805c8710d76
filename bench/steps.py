"""The steps of the fogbridge benchmark (see docs/benchmarks.md). Each step starts what it
needs on free loopback ports, measures, stops it again, and returns plain figures."""

import itertools
import random
import time
import tomllib

import fogtest
from benchlib import (BenchError, Profiler, StoreWatch, cpu_seconds, example_filter, last_json, last_line,
                      percentile, slope, tcp_bytes, thread_cpu, thread_delta)

BATCH_TOPIC = "fogbridge/+/batch"
READINGS_TOPIC = "devices/+/readings"


def _rate(n, seconds):
    return n / seconds if seconds and seconds > 0 else None


def forward_figures(res, arrivals, n, cut, t0):
    """Step 8's rates from the sink's summary and its sorted arrival times. `rps` counts up to
    the (n - cut)th arrival: the gateway's last, partial batch waits for batch.max_delay by
    design, which is latency, not capacity; the bridge is cut the same."""
    got = res.get("unique", 0)
    t_last = res.get("t_last_new") or res.get("t_last") or 0
    t_first = arrivals[0] if arrivals else 0
    at_first = arrivals.count(t_first)  # the first message may be a whole batch
    k = min(n - cut, len(arrivals))  # counts duplicates too; "duplicates" says how many
    return {
        "rps": _rate(k - at_first, arrivals[k - 1] - t_first) if k > at_first else None,
        "rps_to_nth": _rate(got - at_first, t_last - t_first),
        "rps_from_start": _rate(got, t_last - t0),
        "cut": cut, "n": n, "arrived": got, "lost": n - got,
        "duplicates": res.get("readings", 0) - got,
        "first_arrival_s": t_first - t0 if t_first else None,
        "seconds": t_last - t0 if t_last else None,
    }


def pick_median_round(rounds):
    """The figures of the round whose drain ratio (else whichever rate was measured) is the
    median, with every round's rates and ratios under *_rounds keys."""
    def key(r):
        c, g = r.get("ceiling_rps"), r.get("gateway_drain_rps")
        return g / c if c and g else (g or c or 0)
    order = sorted(range(len(rounds)), key=lambda i: key(rounds[i]))
    out = dict(rounds[order[len(order) // 2]])
    for name in ("ceiling_rps", "gateway_drain_rps"):
        if all(name in r for r in rounds):
            out[name + "_rounds"] = [round(r[name]) for r in rounds]
    if all("ceiling_rps" in r and "gateway_drain_rps" in r for r in rounds):
        out["drain_ratio_rounds"] = [round(key(r), 3) for r in rounds]
    peaks = [r["rss_ingest_peak_kb"] for r in rounds if r.get("rss_ingest_peak_kb") is not None]
    if peaks:
        out["rss_ingest_peak_kb"] = max(peaks)
    return out


class Bench:
    """Runs the steps with the settings in `args` on `stack`, reporting through `progress`."""

    def __init__(self, args, stack, progress):
        self.a = args
        self.stack = stack
        self.progress = progress
        self.rng = random.Random(args.seed)
        self._boots = itertools.count(self.rng.randrange(1, 1 << 40))
        self.shared = {}  # what one step leaves for another (the step-2 gateway for step 5)
        self.profiler = Profiler(stack, args.perf)

    def boot(self):
        return str(next(self._boots))

    # ---------------------------------------------------------------------------------------
    # helpers

    def wait_process(self, proc, timeout, what, on_tick=None):
        deadline = time.monotonic() + timeout
        while proc.running:
            if time.monotonic() > deadline:
                raise BenchError(f"{what} did not finish within {timeout:.0f} s")
            if on_tick:
                on_tick()
            time.sleep(0.1)
        return proc.returncode

    def publish_backlog(self, local, d, n, boot):
        """Publishes n readings as fast as the broker takes them; returns the publisher's figures."""
        pub = self.stack.publish(local, d, "--devices", self.a.backlog_publishers, "--count", n,
                                 "--boot", boot, "--seed", self.a.seed, name="publish-backlog")

        def tick():
            line = last_line(pub.stdout_path, "progress ")
            if line:
                self.progress.update(f"building a backlog: {int(line.split()[3]):,}/{n:,} published")

        self.wait_process(pub, max(120, n / 2000), "the backlog publisher", tick)
        res = last_json(pub.stdout_path)
        if not res or res.get("acked", 0) < n:
            raise BenchError(f"the backlog publisher stopped short: {res} {pub.stderr()[-300:]}")
        return res

    def probe(self, local, sink, d, timeout=30):
        """One reading through the whole path: proves every link is up before measuring."""
        before = sink.counts()[1]
        deadline = time.monotonic() + timeout
        # A bridge drops what arrives before its subscription is in place: probe until one
        # gets through.
        while time.monotonic() < deadline:
            pub = self.stack.publish(local, d, "--devices", 1, "--count", 1, "--device-prefix",
                                     "probe", "--boot", self.boot(), name="probe")
            self.wait_process(pub, 30, "the probe publisher")
            if sink.wait_unique(before + 1, 2 + self.a.batch_delay) > before:
                return
        raise BenchError("a probe reading did not reach the cloud broker")

    # ---------------------------------------------------------------------------------------
    # 1 and 2 in paired rounds

    def drain_rounds(self, ceiling, gateway):
        """Steps 1 and 2 alternately, --rounds times: the two rates move by +-15 % from run to
        run on a shared 2-core machine, and a pair run back to back sees the same machine. The
        figures are those of the round with the median ratio (every round's are listed too);
        the last round's gateway stays for step 5."""
        rounds = []
        for i in range(self.a.rounds):
            r = {}
            self.progress.prefix = f"round {i + 1}/{self.a.rounds}: " if self.a.rounds > 1 else ""
            if ceiling:
                r.update(self.ceiling())
                r.update(self.true_ceiling())
            if gateway:
                r.update(self.gateway_drain())
                if i + 1 < self.a.rounds:
                    self.release_drain()
            rounds.append(r)
        self.progress.prefix = ""
        return pick_median_round(rounds)

    def release_drain(self):
        ctx = self.shared.pop("drain")
        self.stack.stop(ctx["gateway"].proc)
        self.stack.stop_broker(ctx["local"])

    # ---------------------------------------------------------------------------------------
    # 1. the ceiling

    def ceiling(self):
        n = self.a.n
        d = self.stack.dir("ceiling")
        local = self.stack.broker("local-plain", "local-ceiling")
        client = "bench-ceiling"
        sub = self.stack.drain(local, d, client, "--subscribe-only", name="subscribe")
        self.wait_process(sub, 30, "the first subscription")
        pub = self.publish_backlog(local, d, n, self.boot())
        self.progress.update(f"draining {n:,} readings with a bare libmosquitto subscriber")
        cpu0 = cpu_seconds(local.pid)
        drain = self.stack.drain(local, d, client, "--count", n, "--idle", 15, name="drain")
        self.wait_process(drain, max(120, n / 5000), "the bare subscriber")
        res = last_json(drain.stdout_path) or {}
        broker_cpu = cpu_seconds(local.pid) - cpu0
        self.stack.stop_broker(local)
        if res.get("count", 0) < n:
            raise BenchError(f"the bare subscriber received {res.get('count')} of {n}")
        return {
            "ceiling_rps": res["rate"],
            "ceiling_rps_after_first": res["rate_steady"],
            "ceiling_seconds": res["t_last"] - res["t_start"],
            "ceiling_subscriber_cpu_s_per_100k": res["cpu_s"] / n * 1e5,
            "ceiling_broker_cpu_s_per_100k": broker_cpu / n * 1e5,
            "backlog_publish_rps": pub["rate"],
        }

    def true_ceiling(self):
        """The same backlog drained by bench-drain-true: the gateway's own MQTT client, one read
        per burst, that burst's PUBACKs written together, nothing else per message."""
        n = self.a.n
        d = self.stack.dir("true-ceiling")
        local = self.stack.broker("local-plain", "local-true-ceiling")
        client = "bench-true-ceiling"
        tool = self.stack.exe("bench", "bench-drain-true")
        base = [tool, "--host", local.host, "--port", local.port, "--client-id", client]
        sub = self.stack.process([*base, "--subscribe-only"], d, "subscribe-true")
        self.wait_process(sub, 30, "the first subscription")
        self.publish_backlog(local, d, n, self.boot())
        self.progress.update(f"draining {n:,} readings with the gateway's own MQTT client")
        drain = self.stack.process([*base, "--count", n, "--idle", 15], d, "drain-true")
        self.wait_process(drain, max(120, n / 5000), "the true-ceiling subscriber")
        res = last_json(drain.stdout_path) or {}
        self.stack.stop_broker(local)
        if res.get("count", 0) < n:
            raise BenchError(f"the true-ceiling subscriber received {res.get('count')} of {n}")
        return {"true_ceiling_rps": res["rate"], "true_ceiling_rps_after_first": res["rate_steady"],
                "true_ceiling_cpu_s_per_100k": res["cpu_s"] / n * 1e5}

    # ---------------------------------------------------------------------------------------
    # 2. the gateway drains the same backlog (the cloud broker is away)

    def gateway_drain(self):
        n = self.a.n
        d = self.stack.dir("gateway-drain")
        local = self.stack.broker("local-plain", "local-drain")
        cloud_port = fogtest.free_port()  # nothing listens there until step 5
        gw = self.stack.gateway(d, local, cloud_port, sections={
            "batch": {"max_delay": self.a.batch_delay},
            "cloud": {"compression": self.a.drain_compression}})
        gw.start()
        gw.wait_local()
        self.stack.stop(gw.proc)  # SIGTERM: the persistent session stays, subscribed
        self.publish_backlog(local, d, n, self.boot())
        self.progress.update(f"the gateway drains {n:,} readings into its store")
        watch = StoreWatch(gw.store)
        t0 = time.time()
        gw.start()
        self.profiler.start(gw.pid, d, "gateway-drain")
        last = (t0, 0)
        deadline = time.monotonic() + max(180, n / 2000)
        while True:
            now = time.time()
            stored = watch.span()[1] or 0
            if stored >= n:
                # Between two looks: interpolate when the n-th reading committed.
                t_prev, s_prev = last
                t_done = t_prev + (now - t_prev) * (n - s_prev) / max(stored - s_prev, 1)
                break
            if stored > last[1] or last[0] == t0:
                last = (now, stored)
            if not gw.proc.running:
                raise BenchError(f"the gateway exited during the drain: {gw.proc.stderr()[-500:]}")
            if time.monotonic() > deadline:
                raise BenchError(f"the gateway stored {stored} of {n} in time")
            self.progress.update(f"the gateway drains: {stored:,}/{n:,} committed "
                                 f"({stored / max(now - t0, 1e-3) / 1000:.1f}k/s)")
            time.sleep(0.05)
        cpu = gw.cpu()
        threads = thread_cpu(gw.pid)
        mem = gw.memory()
        self.profiler.stop()
        watch.close()
        self.shared["drain"] = {"gateway": gw, "local": local, "n": n}
        return {
            "gateway_drain_rps": n / (t_done - t0),
            "gateway_drain_seconds": t_done - t0,
            "gateway_drain_cpu_s_per_100k": cpu / n * 1e5,
            "gateway_drain_thread_cpu_s": {k: round(v, 3) for k, v in threads.items()},
            "rss_ingest_peak_kb": mem["hwm"],
            "rss_backlog_kb": mem["rss"],
        }

    # ---------------------------------------------------------------------------------------
    # 5. the cloud broker comes back: the store empties

    def backlog_drain(self):
        ctx = self.shared.pop("drain")
        gw, local, n = ctx["gateway"], ctx["local"], ctx["n"]
        d = gw.log_dir
        time.sleep(0.5)
        rss_before = gw.memory()["rss"]
        cpu0 = gw.cpu()
        cpu_first, threads_first = cpu0, thread_cpu(gw.pid)
        watch = StoreWatch(gw.store)
        self.profiler.start(gw.pid, d, "backlog-drain")
        t0 = time.time()
        cloud = self.stack.broker("cloud", "cloud-backlog", port=gw.cloud_port)
        sink = self.stack.sink(cloud, d, "--topic", BATCH_TOPIC, name="sink-backlog")
        t_first = None
        deadline = time.monotonic() + max(180, n / 2000)
        peak_rss = 0
        while True:
            lo, hi = watch.span()
            now = time.time()
            left = 0 if lo is None else hi - lo + 1
            peak_rss = max(peak_rss, gw.memory()["rss"])
            if t_first is None and left < n:
                t_first = now
                cpu_first, threads_first = gw.cpu(), thread_cpu(gw.pid)
            if left == 0:
                t_empty = now
                break
            if time.monotonic() > deadline:
                raise BenchError(f"the store still holds {left} readings")
            self.progress.update(f"backlog to the cloud: {n - left:,}/{n:,} acknowledged")
            time.sleep(0.05)
        cpu = gw.cpu() - cpu_first
        threads = thread_delta(thread_cpu(gw.pid), threads_first)
        outage_cpu = cpu_first - cpu0
        mem = gw.memory()
        self.profiler.stop()
        watch.close()
        got = sink.wait_unique(n, 30, idle=3)
        sink.stop()
        health = gw.last_health() or {}
        self.stack.stop(gw.proc)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        return {
            "backlog_drain_rps": n / (t_empty - (t_first or t0)),
            "backlog_drain_rps_from_cloud_start": n / (t_empty - t0),
            "backlog_drain_cpu_s_per_100k": cpu / n * 1e5,
            "backlog_drain_thread_cpu_s": threads,
            "backlog_reconnect_s": (t_first or t0) - t0,
            "backlog_outage_cpu_s": outage_cpu,
            "backlog_drain_arrived": got,
            "rss_backlog_start_kb": rss_before,
            "rss_backlog_drain_peak_kb": max(peak_rss, mem["rss"]),
            "rss_backlog_hwm_kb": mem["hwm"],
            "backlog_batches_sent": health.get("counters", {}).get("batches_sent"),
        }

    # ---------------------------------------------------------------------------------------
    # 3. live load through the gateway; 4a. the same through Mosquitto's bridge

    def live_phase(self, local, sink, label, rate, duration, watch_pid, upstream=None, box=None):
        """Publishers at `rate` (0: flat out) for `duration` s; samples the backlog (published and
        acknowledged by the local broker, not yet in the cloud) and waits for the rest."""
        d = self.stack.dir(f"live-{label}")
        base = sink.counts()[1]
        bytes0 = upstream() if upstream else None
        if rate == 0:
            self.profiler.start(watch_pid, d, label)
        cpu0 = cpu_seconds(watch_pid)
        threads0 = thread_cpu(watch_pid)
        box = box or {}
        box0 = {k: cpu_seconds(pid) for k, pid in box.items()}
        pub = self.stack.publish(local, d, "--devices", self.a.live_devices, "--rate", rate,
                                 "--duration", duration, "--boot", self.boot(), "--seed",
                                 self.a.seed, "--drain-timeout", 60, name=f"publish-{label}")
        samples = []
        t_start = time.time()
        while pub.running:
            line = last_line(pub.stdout_path, "progress ")
            acked = int(line.split()[3]) if line else 0
            unique = sink.counts()[1] - base
            now = time.time()
            samples.append((now, acked, unique))
            self.progress.update(f"{label}: {now - t_start:4.0f}/{duration} s, "
                                 f"{acked:,} published, {unique:,} in the cloud, "
                                 f"backlog {acked - unique:,}")
            time.sleep(0.5)
        self.profiler.stop()
        res = last_json(pub.stdout_path) or {}
        acked = res.get("acked", 0)
        t_pub_start, t_pub_end = res.get("t_start", t_start), res.get("t_end", time.time())
        got = sink.wait_unique(base + acked, 90, idle=15,
                               on_tick=lambda u: self.progress.update(
                                   f"{label}: catching up, {u - base:,}/{acked:,} in the cloud"))
        t_caught_up = time.time()
        cpu = cpu_seconds(watch_pid) - cpu0
        threads = thread_delta(thread_cpu(watch_pid), threads0)
        # Where the machine's CPU went meanwhile (everything runs on the same cores).
        box_cpu = {k: round(cpu_seconds(pid) - box0[k], 3) for k, pid in box.items()}
        box_cpu["publishers"] = (last_json(pub.stdout_path) or {}).get("cpu_s")
        bytes1 = upstream() if upstream else None
        warm = min(self.a.warmup, duration / 4)
        window = [(t - t_pub_start, a - u) for t, a, u in samples
                  if t_pub_start + warm <= t <= t_pub_end]
        growth = slope(window)
        offered = _rate(acked, t_pub_end - t_pub_start)
        return {
            "label": label, "rate": rate, "duration": duration, "published": acked,
            "arrived": got - base, "offered_rps": offered, "t_start": t_pub_start,
            "t_end": t_pub_end, "warm": warm, "catch_up_s": t_caught_up - t_pub_end,
            "backlog_growth_per_s": growth,
            "held": growth <= max(0.02 * (offered or 0), 50),
            "cpu_s": cpu, "cpu_s_per_100k": cpu / max(acked, 1) * 1e5, "thread_cpu_s": threads,
            "box_cpu_s": box_cpu, "wall_s": t_caught_up - t_pub_start,
            "bytes": (bytes1["bytes_sent"] - bytes0["bytes_sent"]) if bytes0 and bytes1 else None,
        }

    def phase_figures(self, phase, pairs):
        """Throughput and latency of a phase from the sink's (ts, arrival) pairs. Latency counts
        readings made in the steady part: after the warm-up, and before the last batch delay
        (+1 s) of the phase, whose readings wait for a batch that the stopped stream never fills."""
        lo, hi = phase["t_start"] + phase["warm"], phase["t_end"]
        arrivals = sum(1 for _, a in pairs if lo <= a <= hi)
        cool = min(self.a.batch_delay + 1.0, (hi - lo) / 2)
        lat = sorted((a - ts) * 1000 for ts, a in pairs if lo <= ts <= hi - cool)
        phase["delivered_rps"] = _rate(arrivals, hi - lo)
        phase["p50_ms"] = percentile(lat, 0.5)
        phase["p99_ms"] = percentile(lat, 0.99)
        phase["max_ms"] = lat[-1] if lat else None
        if phase.get("bytes") is not None and phase["arrived"]:
            phase["bytes_per_reading"] = phase["bytes"] / phase["arrived"]
        return phase

    def live_gateway(self):
        d = self.stack.dir("live-gateway")
        local = self.stack.broker("local-plain", "local-live")
        cloud = self.stack.broker("cloud", "cloud-live")
        sink = self.stack.sink(cloud, d, "--topic", BATCH_TOPIC, name="sink-live")
        sink.wait_subscribed()
        gw = self.stack.gateway(d, local, cloud.port,
                                sections={"batch": {"max_delay": self.a.batch_delay},
                                          "gateway": {"health_interval": 10}})
        gw.start()
        gw.wait_local()
        gw.wait_cloud()
        self.progress.update("idle gateway: measuring memory at rest")
        time.sleep(self.a.idle_wait)
        idle = gw.memory()
        self.probe(local, sink, d)
        phases = []
        for label, rate, duration in self.a.live_phases:
            phases.append(self.live_phase(local, sink, label, rate, duration, gw.pid,
                                          gw.upstream_bytes,
                                          {"local_broker": local.pid, "cloud_broker": cloud.pid,
                                           "sink": sink.proc.pid}))
        load_mem = gw.memory()
        sink.stop()
        pairs = sink.pairs()
        for p in phases:
            self.phase_figures(p, pairs)
        self.stack.stop(gw.proc)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        flat = phases[-1]
        at_10k = next((p for p in phases if p["rate"] == 10000), None)
        return {
            "rss_idle_kb": idle["rss"],
            "rss_idle_hwm_kb": idle["hwm"],
            "rss_load_kb": load_mem["hwm"],
            "gateway_live_rps": flat["delivered_rps"],
            "gateway_live_offered_rps": flat["offered_rps"],
            "gateway_live_held": flat["held"],
            "gateway_live_cpu_s_per_100k": flat["cpu_s_per_100k"],
            "p99_ms_at_10k": at_10k["p99_ms"] if at_10k else None,
            "bytes_per_reading_gateway_passthrough_none": flat.get("bytes_per_reading"),
            "live_phases": phases,
        }

    def live_bridge(self):
        d = self.stack.dir("live-bridge")
        local = self.stack.broker("local-plain", "local-bridge")
        cloud = self.stack.broker("cloud", "cloud-bridge")
        sink = self.stack.sink(cloud, d, "--topic", READINGS_TOPIC, name="sink-bridge")
        sink.wait_subscribed()
        bridge = self.stack.bridge(d, local, cloud)
        self.probe(local, sink, d)
        label, rate, _ = self.a.live_phases[-1]
        def upstream():
            return tcp_bytes(bridge.pid, cloud.port)

        phase = self.live_phase(local, sink, "bridge-" + label, rate, self.a.bridge_hold,
                                bridge.pid, upstream,
                                {"local_broker": local.pid, "cloud_broker": cloud.pid,
                                 "sink": sink.proc.pid})
        sink.stop()
        self.phase_figures(phase, sink.pairs())
        lost = phase["published"] - phase["arrived"]
        self.stack.stop(bridge)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        return {
            "bridge_rps": phase["delivered_rps"],
            "bridge_offered_rps": phase["offered_rps"],
            "bridge_held": phase["held"],
            "bridge_lost": lost,
            "bridge_cpu_s_per_100k": phase["cpu_s_per_100k"],
            "bytes_per_reading_bridge": phase.get("bytes_per_reading"),
            "bridge_p50_ms": phase["p50_ms"],
            "bridge_p99_ms": phase["p99_ms"],
            "bridge_phase": phase,
        }

    # ---------------------------------------------------------------------------------------
    # 8. forwarding capacity from a backlog: the gateway, then Mosquitto's bridge

    def forward_backlog(self, kind, cut=None, n=None, on_start=None):
        """N readings wait in the forwarder's persistent session on the local broker while it is
        down; it starts with the cloud broker up and a sink subscribed. No publisher competes
        for the CPU, so the rate is what the forwarder (with both brokers and the sink) moves."""
        n = n or self.a.n_forward
        d = self.stack.dir(f"forward-{kind}")
        local = self.stack.broker("local-plain", f"local-forward-{kind}")
        cloud = self.stack.broker("cloud", f"cloud-forward-{kind}")
        topic = BATCH_TOPIC if kind == "gateway" else READINGS_TOPIC
        gw = self.forward_session(kind, d, local, cloud, topic)
        cut = self.batch_size(gw) if gw else cut
        self.publish_backlog(local, d, n, self.boot())
        sink = self.stack.sink(cloud, d, "--topic", topic, name="sink-forward")
        sink.wait_subscribed()
        box = {"local_broker": local.pid, "cloud_broker": cloud.pid, "sink": sink.proc.pid}
        box0 = {k: cpu_seconds(pid) for k, pid in box.items()}
        self.progress.update(f"{kind}: forwarding {n:,} readings from its session")
        t0 = time.time()
        proc = gw.start().proc if gw else self.stack.bridge(d, local, cloud, persistent=True)
        if on_start:  # e.g. the pod step puts the forwarder into its cgroup
            on_start(proc)
        self.profiler.start(proc.pid, d, f"forward-{kind}")

        def tick(unique):
            if not proc.running:
                raise BenchError(f"the {kind} exited while forwarding: {proc.stderr()[-500:]}")
            self.progress.update(f"{kind}: {unique:,}/{n:,} in the cloud "
                                 f"({unique / max(time.time() - t0, 1e-3) / 1000:.1f}k/s)")

        sink.wait_unique(n, max(120, n / 1000), idle=20, on_tick=tick)
        self.profiler.stop()
        out = {"cpu_s": cpu_seconds(proc.pid),
               "thread_cpu_s": thread_cpu(proc.pid) if gw else None,
               "box_cpu_s": {k: round(cpu_seconds(pid) - box0[k], 3) for k, pid in box.items()}}
        res = sink.stop()
        self.stack.stop(proc)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        out.update(forward_figures(res, sorted(a for _, a in sink.pairs()), n, cut, t0))
        out["cpu_s_per_100k"] = out["cpu_s"] / max(out["arrived"], 1) * 1e5
        return out

    def forward_session(self, kind, d, local, cloud, topic):
        """Makes the forwarder's persistent session on the local broker and stops it again;
        returns the gateway (None for the bridge)."""
        self.progress.update(f"{kind}: making its persistent session on the local broker")
        if kind == "gateway":
            gw = self.stack.gateway(d, local, cloud.port, sections={
                "batch": {"max_delay": self.a.batch_delay}, "gateway": {"health_interval": 10}})
            gw.start()
            gw.wait_local()
            gw.wait_cloud()
            self.stack.stop(gw.proc)  # SIGTERM: the session stays, subscribed
            return gw
        # The bridge's SUBSCRIBE is in place on the local broker once a probe got through; the
        # probe's sink goes, so the measuring sink counts the backlog only.
        probe_sink = self.stack.sink(cloud, d, "--topic", topic, name="sink-probe")
        probe_sink.wait_subscribed()
        bridge = self.stack.bridge(d, local, cloud, persistent=True)
        self.probe(local, probe_sink, d)
        probe_sink.wait_unique(10**12, 5, idle=1)  # a retried probe arrives now, not later
        self.stack.stop(bridge)
        probe_sink.stop()
        return None

    @staticmethod
    def batch_size(gw):
        with open(gw.config, "rb") as f:
            return int(tomllib.load(f).get("batch", {}).get("max_readings", 1000))

    def forward_capacity(self):
        gw = self.forward_backlog("gateway")
        br = self.forward_backlog("bridge", gw["cut"])
        return {"gateway_forward_rps": gw["rps"], "bridge_forward_rps": br["rps"],
                "gateway_forward_rps_to_nth": gw["rps_to_nth"],
                "bridge_forward_rps_to_nth": br["rps_to_nth"],
                "gateway_forward_rps_from_start": gw["rps_from_start"],
                "bridge_forward_rps_from_start": br["rps_from_start"],
                "gateway_forward_lost": gw["lost"], "bridge_forward_lost": br["lost"],
                "gateway_forward": gw, "bridge_forward": br}

    # ---------------------------------------------------------------------------------------
    # 4b. bytes upstream per reading

    def bytes_synthetic_gateway(self, compression):
        """n4 synthetic readings flat out through a gateway; upstream bytes per reading."""
        n = self.a.n_bytes
        d = self.stack.dir(f"bytes-gateway-{compression}")
        local = self.stack.broker("local-plain", "local-bytes")
        cloud = self.stack.broker("cloud", "cloud-bytes")
        sink = self.stack.sink(cloud, d, "--topic", BATCH_TOPIC, name="sink-bytes")
        sink.wait_subscribed()
        gw = self.stack.gateway(d, local, cloud.port, sections={
            "batch": {"max_delay": self.a.batch_delay, "layout": "rows"},
            "gateway": {"health_interval": 60}, "cloud": {"compression": compression}})
        gw.start()
        gw.wait_local()
        gw.wait_cloud()
        self.probe(local, sink, d)
        b0 = gw.upstream_bytes()
        base = sink.counts()[1]
        pub = self.stack.publish(local, d, "--devices", self.a.live_devices, "--count", n,
                                 "--boot", self.boot(), "--seed", self.a.seed, name="publish")
        self.wait_process(pub, max(120, n / 1000), "the publisher",
                          lambda: self.progress.update(
                              f"{compression}: {sink.counts()[1] - base:,}/{n:,} in the cloud"))
        res = last_json(pub.stdout_path) or {}
        got = sink.wait_unique(base + n, 60, idle=10) - base
        t_end = time.time()
        b1 = gw.upstream_bytes()
        sink.stop()
        self.stack.stop(gw.proc)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        if not (b0 and b1):
            return {"bytes_per_reading": None, "arrived": got}
        return {"bytes_per_reading": (b1["bytes_sent"] - b0["bytes_sent"]) / max(got, 1),
                "arrived": got, "published": res.get("acked"),
                "rps": _rate(got, t_end - res.get("t_start", t_end))}

    def recording_run(self, kind, rules_mode, compression, layout="rows"):
        """The occupancy recording replayed by fogbridge-sensor (several devices, --speed 0)
        through a gateway (rules_mode "example" or "passthrough", batch.layout `layout`) or the
        bridge; returns bytes upstream per published reading."""
        label = f"{kind}-{rules_mode}-{compression}" if kind == "gateway" else "bridge"
        if kind == "gateway" and layout != "rows":
            label += f"-{layout}"
        d = self.stack.dir(f"recording-{label}")
        local = self.stack.broker("local-plain", "local-rec")
        cloud = self.stack.broker("cloud", "cloud-rec")
        topic = BATCH_TOPIC if kind == "gateway" else READINGS_TOPIC
        sink = self.stack.sink(cloud, d, "--topic", topic, name="sink-rec")
        sink.wait_subscribed()
        acker = None
        if kind == "gateway":
            sections = {"gateway": {"health_interval": 60},
                        "batch": {"max_delay": self.a.batch_delay, "layout": layout},
                        "cloud": {"compression": compression},
                        "validate": {"max_past_s": 1e10}}  # the recording is from 2015
            rules = None
            if rules_mode == "example":
                default, rules = example_filter(self.a.rules)
                sections["filter.default"] = default
            node = self.stack.gateway(d, local, cloud.port, sections=sections, rules=rules)
            node.start()
            node.wait_local()
            node.wait_cloud()
            pid, port = node.pid, cloud.port
            store = StoreWatch(node.store)
        else:
            node = None
            bridge = self.stack.bridge(d, local, cloud)
            # Stands in for the gateway's acks, so the SDK keeps sending.
            acker = self.stack.drain(local, d, "bench-acker", "--clean", "--ack", "--idle", 0,
                                     name="acker")
            pid, port = bridge.pid, cloud.port
            store = None
        self.probe(local, sink, d)
        b0 = tcp_bytes(pid, port)
        base_msgs = sink.counts()
        sensors = []
        for i in range(self.a.rec_devices):
            extra = ["--count", self.a.rec_count] if self.a.rec_count else []
            sensors.append(self.stack.sensor(
                local, d, f"occ-{i + 1:02d}", "--source", "replay", "--file", self.a.recording,
                "--speed", 0, "--flush-timeout", 30, *extra))
        t0 = time.time()
        for s in sensors:
            self.wait_process(s, 600, "a replaying sensor", lambda: self.progress.update(
                f"recording via {label}: {sink.counts()[1] - base_msgs[1]:,} readings in the cloud"))
        published = 0
        for s in sensors:
            line = last_line(s.stdout_path, "fogbridge-sensor:")
            fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv) if line else {}
            published += int(fields.get("acked", 0))
        if store is not None:
            deadline = time.monotonic() + 60
            while store.span()[0] is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            store.close()
            got = sink.wait_unique(10**12, 30, idle=max(self.a.idle_wait, self.a.batch_delay))
        else:
            got = sink.wait_unique(base_msgs[1] + published, 60, idle=10)
        t1 = time.time()
        b1 = tcp_bytes(pid, port)
        kept = got - base_msgs[1]
        sink.stop()
        health = None
        if node:
            self.stack.stop(node.proc)
            health = node.last_health()  # the retained report it made while stopping
        else:
            self.stack.stop(acker)
            self.stack.stop(bridge)
        self.stack.stop_broker(cloud)
        self.stack.stop_broker(local)
        out = {"label": label, "published": published, "arrived": kept,
               "seconds": t1 - t0, "bytes": None, "bytes_per_reading": None}
        if b0 and b1 and published:
            out["bytes"] = b1["bytes_sent"] - b0["bytes_sent"]
            out["bytes_per_reading"] = out["bytes"] / published
        if health:
            c = health.get("counters", {})
            out["counters"] = {k: c.get(k) for k in ("received", "kept", "filtered", "stored",
                                                     "batches_sent", "readings_sent", "bytes_up")}
            out["filter"] = health.get("filter")
        return out

    def bytes_upstream(self):
        out = {}
        zstd = self.bytes_synthetic_gateway("zstd")
        out["bytes_per_reading_gateway_passthrough"] = zstd["bytes_per_reading"]
        out["gateway_zstd_rps"] = zstd.get("rps")
        runs = []
        if self.a.recording:
            for kind, mode, comp, layout in (
                    ("bridge", "", "", "rows"), ("gateway", "example", "zstd", "rows"),
                    ("gateway", "example", "none", "rows"), ("gateway", "passthrough", "zstd", "rows"),
                    ("gateway", "passthrough", "zstd", "columnar"),
                    ("gateway", "example", "zstd", "columnar")):
                self.progress.update(f"recording via {kind} {mode} {comp} {layout}")
                runs.append(self.recording_run(kind, mode, comp, layout))
            by = {r["label"]: r for r in runs}
            out["bytes_per_reading_bridge_recording"] = by["bridge"]["bytes_per_reading"]
            out["bytes_per_reading_gateway_filtered"] = by["gateway-example-zstd"]["bytes_per_reading"]
            out["bytes_per_reading_gateway_filtered_none"] = by["gateway-example-none"]["bytes_per_reading"]
            out["bytes_per_reading_gateway_recording_passthrough_zstd"] = \
                by["gateway-passthrough-zstd"]["bytes_per_reading"]
            out["bytes_per_reading_columnar_passthrough_zstd"] = \
                by["gateway-passthrough-zstd-columnar"]["bytes_per_reading"]
            out["bytes_per_reading_columnar_filtered_zstd"] = \
                by["gateway-example-zstd-columnar"]["bytes_per_reading"]
            kept = by["gateway-example-zstd"]
            out["recording_kept_fraction"] = kept["arrived"] / kept["published"] if kept["published"] else None
        out["recording_runs"] = runs
        return out

    # ---------------------------------------------------------------------------------------
    # 7. a fleet

    def fleet(self):
        m, k = self.a.fleet_gateways, self.a.fleet_devices
        d = self.stack.dir("fleet")
        cloud = self.stack.broker("cloud", "cloud-fleet")
        sink = self.stack.sink(cloud, d, "--topic", BATCH_TOPIC, name="sink-fleet")
        sink.wait_subscribed()
        sites = []
        for g in range(m):
            gid = f"gw-{g + 1:02d}"
            local = self.stack.broker("local-plain", f"local-{gid}")
            gw = self.stack.gateway(d, local, cloud.port, gateway_id=gid, name=f"gateway-{gid}",
                                    sections={"batch": {"max_delay": self.a.batch_delay},
                                              "gateway": {"health_interval": 10}})
            gw.start()
            sites.append((gid, local, gw))
        for _, _, gw in sites:
            gw.wait_local()
            gw.wait_cloud()
        cpu0 = {gid: gw.cpu() for gid, _, gw in sites}
        sensors = []
        t0 = time.time()
        for gid, local, _ in sites:
            for i in range(k):
                sensors.append(self.stack.sensor(
                    local, d, f"{gid}-dev-{i + 1:02d}", "--source", "simulated", "--rate",
                    self.a.fleet_rate, "--duration", self.a.fleet_seconds, "--seed",
                    self.a.seed + i, "--flush-timeout", 30))
        for s in sensors:
            self.wait_process(s, self.a.fleet_seconds + 120, "a fleet sensor",
                              lambda: self.progress.update(
                                  f"{m} gateways x {k} devices: {sink.counts()[1]:,} readings "
                                  f"in the cloud"))
        t1 = time.time()
        published = 0
        for s in sensors:
            line = last_line(s.stdout_path, "fogbridge-sensor:")
            fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv) if line else {}
            published += int(fields.get("acked", 0))
        got = sink.wait_unique(published, 60, idle=max(5.0, 3 * self.a.batch_delay))
        cpu = {gid: gw.cpu() - cpu0[gid] for gid, _, gw in sites}
        rss = {gid: gw.memory()["hwm"] for gid, _, gw in sites}
        sink.stop()
        pairs = sink.pairs()
        lat = sorted((a - ts) * 1000 for ts, a in pairs)
        for _, local, gw in sites:
            self.stack.stop(gw.proc)
            self.stack.stop_broker(local)
        self.stack.stop_broker(cloud)
        return {
            "fleet_gateways": m, "fleet_devices_per_gateway": k,
            "fleet_published": published, "fleet_arrived": got,
            "fleet_rps": _rate(published, t1 - t0),
            "fleet_p50_ms": percentile(lat, 0.5), "fleet_p99_ms": percentile(lat, 0.99),
            "fleet_max_ms": lat[-1] if lat else None,
            "fleet_gateway_cpu_s": cpu, "fleet_gateway_rss_kb": rss,
        }


    # ---------------------------------------------------------------------------------------
    # 9: fogbridge-sink into PostgreSQL against PostgreSQL's own COPY

    def sink_throughput(self):
        """A backlog of batches waits in the sink's persistent session; the sink starts and
        writes it into PostgreSQL (one transaction per batch, ON CONFLICT DO NOTHING). The
        ceiling: psql's \\copy of the same rows into the same, emptied table, same key."""
        import datetime
        import os
        import fogpg
        if not fogpg.available():
            raise BenchError("PostgreSQL 15 server binaries are not installed")
        n, per_batch = self.a.n_sink, 500
        d = self.stack.dir("sink")
        pg = fogpg.Postgres(d / "pg")
        pg.start()
        try:
            cloud = self.stack.broker("cloud", "sink-cloud")
            conf = fogpg.sink_config(d / "sink.toml", pg, cloud, self.stack.pki, schema="bench",
                                     client_id="bench-sink")
            sink_exe = self.stack.exe("sink", "fogbridge-sink")
            # A first run makes the schema and the persistent session the backlog waits in.
            first = self.stack.process([sink_exe, "--config", str(conf)], d, "sink-setup")
            first.wait_for_log(r"broker .* connected", 20)
            self.stack.stop(first)
            boot = int(self.boot())
            rows = []
            pub = fogtest.Client(cloud, "gateway").connect()
            try:
                for b in range(0, n, per_batch):
                    readings = [{"device": f"dev-{seq % 8}", "sensor": "temperature",
                                 "value": round(self.rng.uniform(15, 30), 3), "unit": "C",
                                 "ts": 1732630000 + seq / 100, "boot": boot, "seq": seq + 1}
                                for seq in range(b, min(n, b + per_batch))]
                    rows += readings
                    ranges = [{"device": f"dev-{k}", "boot": boot, "first": readings[0]["seq"],
                               "last": readings[-1]["seq"]} for k in range(8)]
                    pub.publish("fogbridge/gw-01/batch",
                                {"gateway": "gw-01", "batch_id": f"gw-01-{b}", "replay": False,
                                 "created": time.time(), "readings": readings, "ranges": ranges})
            finally:
                pub.close()
            self.progress.update(f"sink: {n} readings queued, writing")
            proc = self.stack.process([sink_exe, "--config", str(conf)], d, "sink")
            t0 = time.monotonic()
            m = proc.wait_for_log(r"metrics on http://[^:]+:(\d+)/metrics", 20)
            sink = fogpg.Sink(None, conf)
            sink.metrics_port = int(m.group(1))
            deadline = t0 + max(120, n / 500)
            t_first = None
            while True:
                got = sink.metric("fogbridge_sink_rows_total")
                now = time.monotonic()
                if got and t_first is None:
                    t_first = now
                if got >= n:
                    break
                if now > deadline:
                    raise BenchError(f"the sink wrote {got:.0f} of {n} rows in {now - t0:.0f} s")
                time.sleep(0.05)
            t_last = time.monotonic()
            cpu = cpu_seconds(proc.pid)
            self.stack.stop(proc)
            csv_path = d / "rows.csv"
            with open(csv_path, "w", encoding="utf-8") as f:
                for r in rows:
                    ts = datetime.datetime.fromtimestamp(r["ts"], datetime.timezone.utc)
                    f.write(f"{r['device']},{r['boot']},{r['seq']},{r['sensor']},"
                            f"{ts.isoformat()},{r['value']},{r['unit']},gw-01,gw-01-copy\n")
            pg.query("TRUNCATE bench.readings")
            os.chmod(d, 0o755)
            t_copy = time.monotonic()
            pg.query("\\copy bench.readings (device, boot, seq, sensor, ts, value, unit, gateway, "
                     f"batch_id) FROM '{csv_path}' WITH (FORMAT csv)", timeout=600)
            copy_s = time.monotonic() - t_copy
            copied = int(pg.scalar("SELECT count(*) FROM bench.readings"))
            if copied != n:
                raise BenchError(f"COPY loaded {copied} of {n} rows")
        finally:
            pg.cleanup()
        sink_rps = _rate(n, t_last - t0)
        copy_rps = _rate(n, copy_s)
        return {"sink_rows": n, "sink_batch_readings": per_batch, "sink_rps": sink_rps,
                "sink_rps_from_first_row": _rate(n, t_last - t_first) if t_first else None,
                "sink_copy_ceiling_rps": copy_rps,
                "sink_ratio": sink_rps / copy_rps if sink_rps and copy_rps else None,
                "sink_cpu_s_per_100k": cpu * 100_000 / n, "sink_seconds": t_last - t0,
                "sink_copy_seconds": copy_s}
