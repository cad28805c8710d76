"""Steps 1, 2 and 5 of the fogbridge benchmark (docs/benchmarks.md): the ceiling of a bare
subscriber and of the gateway's own MQTT client, the gateway draining the same backlog into its
store, and that store emptying once the cloud broker is back. A mixin of steps.Bench."""

import time

import fogtest
from benchlib import BenchError, StoreWatch, cpu_seconds, last_json, thread_cpu, thread_delta
from step_base import BATCH_TOPIC


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


class DrainSteps:
    """Steps 1, 2 and 5 on a BenchBase (self.a, self.stack, self.progress, self.shared)."""

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
