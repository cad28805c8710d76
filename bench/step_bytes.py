"""Step 4b of the fogbridge benchmark (docs/benchmarks.md): bytes upstream per reading, synthetic
readings through the gateway and the occupancy recording through the gateway (with and without
the example rules, rows and columnar) and through Mosquitto's bridge. A mixin of steps.Bench."""

import time

from benchlib import StoreWatch, example_filter, last_json, last_line, tcp_bytes
from step_base import BATCH_TOPIC, READINGS_TOPIC, per_second


class BytesSteps:
    """Step 4b on a BenchBase (self.a, self.stack, self.progress)."""

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
                "rps": per_second(got, t_end - res.get("t_start", t_end))}

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
