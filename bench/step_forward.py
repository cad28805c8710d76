"""Step 8 of the fogbridge benchmark (docs/benchmarks.md): forwarding capacity from a backlog
waiting in a persistent session, the gateway and then Mosquitto's bridge. A mixin of steps.Bench;
the pod step (step_pod) calls forward_backlog too."""

import time
import tomllib

from benchlib import BenchError, cpu_seconds, thread_cpu
from step_base import BATCH_TOPIC, READINGS_TOPIC, per_second


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
        "rps": per_second(k - at_first, arrivals[k - 1] - t_first) if k > at_first else None,
        "rps_to_nth": per_second(got - at_first, t_last - t_first),
        "rps_from_start": per_second(got, t_last - t0),
        "cut": cut, "n": n, "arrived": got, "lost": n - got,
        "duplicates": res.get("readings", 0) - got,
        "first_arrival_s": t_first - t0 if t_first else None,
        "seconds": t_last - t0 if t_last else None,
    }


class ForwardSteps:
    """Step 8 on a BenchBase (self.a, self.stack, self.progress, self.profiler)."""

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
