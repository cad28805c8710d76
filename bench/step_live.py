"""Steps 3, 4a and 7 of the fogbridge benchmark (docs/benchmarks.md): live load through the
gateway in phases, the same through Mosquitto's bridge, and a fleet of gateways with simulated
boards. A mixin of steps.Bench."""

import time

from benchlib import cpu_seconds, last_json, last_line, percentile, slope, tcp_bytes, thread_cpu, thread_delta
from step_base import BATCH_TOPIC, READINGS_TOPIC, per_second


class LiveSteps:
    """Steps 3, 4a and 7 on a BenchBase (self.a, self.stack, self.progress, self.profiler)."""

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
        offered = per_second(acked, t_pub_end - t_pub_start)
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
        phase["delivered_rps"] = per_second(arrivals, hi - lo)
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
            "fleet_rps": per_second(published, t1 - t0),
            "fleet_p50_ms": percentile(lat, 0.5), "fleet_p99_ms": percentile(lat, 0.99),
            "fleet_max_ms": lat[-1] if lat else None,
            "fleet_gateway_cpu_s": cpu, "fleet_gateway_rss_kb": rss,
        }
