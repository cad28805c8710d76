"""Step 9 of the fogbridge benchmark (docs/benchmarks.md): fogbridge-sink writing a backlog of
batches into PostgreSQL, against PostgreSQL's own COPY of the same rows. A mixin of
steps.Bench."""

import datetime
import os
import time

import fogtest
from benchlib import BenchError, cpu_seconds
from step_base import per_second


class SinkSteps:
    """Step 9 on a BenchBase (self.a, self.stack, self.progress, self.rng)."""

    # ---------------------------------------------------------------------------------------
    # 9: fogbridge-sink into PostgreSQL against PostgreSQL's own COPY

    def sink_throughput(self):
        """A backlog of batches waits in the sink's persistent session; the sink starts and
        writes it into PostgreSQL (one transaction per batch, ON CONFLICT DO NOTHING). The
        ceiling: psql's \\copy of the same rows into the same, emptied table, same key."""
        import fogpg  # tests/support: needs PostgreSQL only when this step runs
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
        sink_rps = per_second(n, t_last - t0)
        copy_rps = per_second(n, copy_s)
        return {"sink_rows": n, "sink_batch_readings": per_batch, "sink_rps": sink_rps,
                "sink_rps_from_first_row": per_second(n, t_last - t_first) if t_first else None,
                "sink_copy_ceiling_rps": copy_rps,
                "sink_ratio": sink_rps / copy_rps if sink_rps and copy_rps else None,
                "sink_cpu_s_per_100k": cpu * 100_000 / n, "sink_seconds": t_last - t0,
                "sink_copy_seconds": copy_s}
