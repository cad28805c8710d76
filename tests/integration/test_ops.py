#!/usr/bin/python3
"""Operations (issue 6): the health payload against a known backlog, the /metrics page read by an
independent parser (Debian's python3-prometheus-client) and checked against the health payload,
and SIGTERM under load: exit 0 within gateway.drain_timeout, nothing lost after a restart."""

import json
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import fogtest  # noqa: E402
from fogtest import FogTestCase, free_port, scaled, wait_until  # noqa: E402
from test_faults import FaultCase  # noqa: E402

DEVICE = "sensor-01"
BACKLOG = 200
DRAIN_TIMEOUT = 2.0


def reading(seq, value, boot=7):
    return {"sensor": "temperature", "value": value, "unit": "C", "ts": time.time(), "boot": boot, "seq": seq}


class OpsCase(FogTestCase):
    def start_stack(self, sections=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        conf = {"gateway": {"health_interval": 0.3}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                         self.work_dir / "q.db", conf)
        self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.config = config
        self.gateway = fogstack.start_gateway(self, config)
        fogstack.wait_gateway_online(self, self.local)
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.device.subscribe(f"devices/{DEVICE}/ack")

    def send(self, seqs):
        for seq in seqs:
            self.device.publish(f"devices/{DEVICE}/readings", reading(seq, 20 + seq / 100), wait=False)

    def wait_ack(self, seq, boot=7, timeout=15):
        want = {"boot": boot, "seq": seq}
        wait_until(lambda: any(m.json() == want for m in self.device.messages(f"devices/{DEVICE}/ack")),
                   timeout, f"ack of seq {seq}")

    def report_after(self, t, predicate=lambda h: True, timeout=15, what="a health report"):
        """The first local health report made after wall-clock time t that satisfies predicate,
        as (parsed, raw payload)."""
        def find():
            for m in self.health.messages():
                h = m.json()
                if h["ts"] > t and predicate(h):
                    return h, m.payload
            return None
        return wait_until(find, timeout, what)

    def cloud_seqs(self):
        return {r["seq"] for r in fogstack.batch_readings(self.batches.messages()) if r["device"] == DEVICE}


class HealthBacklogTest(OpsCase):
    def test_a_known_backlog_shows_in_health_and_drains_to_zero(self):
        self.start_stack()
        self.report_after(time.time(), lambda h: h["uplink"]["state"] == "connected", what="uplink connected")
        self.cloud.stop()
        self.report_after(time.time(), lambda h: h["uplink"]["state"] != "connected", what="uplink down")

        first_sent = time.time()
        self.send(range(1, BACKLOG + 1))
        self.wait_ack(BACKLOG)
        h, raw = self.report_after(time.time(), what="a report made after the last ack")
        self.assert_schema(raw, "health")
        self.assertEqual(h["queue"]["readings"], BACKLOG)
        self.assertAlmostEqual(h["queue"]["oldest_age_s"], h["ts"] - first_sent, delta=1.0)
        self.assertIn(h["uplink"]["state"], ("disconnected", "connecting"))
        self.assertEqual(h["status"], "degraded")
        self.assertEqual((h["counters"]["received"], h["counters"]["stored"]), (BACKLOG, BACKLOG))
        self.assertEqual(h["counters"]["readings_sent"], 0)

        self.cloud.restart()
        drained = lambda h: (h["queue"]["readings"] == 0 and h["queue"]["leased_batches"] == 0  # noqa: E731
                             and h["uplink"]["state"] == "connected")
        h, raw = self.report_after(time.time(), drained, 30, "an empty queue and the uplink up")
        self.assert_schema(raw, "health")
        self.assertIsNone(h["queue"]["oldest_age_s"])
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["counters"]["readings_sent"], BACKLOG)
        # Stored during the outage, so it went up as replay (issue 4's live-first drain).
        self.assertGreaterEqual(h["counters"]["replay_batches_sent"], 1)
        self.assertEqual(h["queue"]["replay_readings"], 0)
        wait_until(lambda: self.cloud_seqs() == set(range(1, BACKLOG + 1)), 15, "every reading in the cloud")

        # The same report goes upstream, retained.
        upstream = self.collector(self.cloud, f"fogbridge/{self.pki.gateway_id}/health")
        m = upstream.wait_for_message(lambda m: m.json()["queue"]["readings"] == 0 and m.json()["ts"] > h["ts"] - 1)
        self.assert_schema(m.payload, "health")


class GapRecordTest(OpsCase):
    def test_readings_past_the_ttl_reach_the_cloud_as_gap_records_and_show_in_the_queue_report(self):
        self.start_stack({"store": {"ttl_s": 1.0}})
        gaps = self.collector(self.cloud, f"fogbridge/{self.pki.gateway_id}/gaps", clean_session=False)
        self.report_after(time.time(), lambda h: h["uplink"]["state"] == "connected", what="uplink connected")
        self.cloud.stop()
        self.report_after(time.time(), lambda h: h["uplink"]["state"] != "connected", what="uplink down")
        self.send(range(1, 21))
        self.wait_ack(20)
        h, raw = self.report_after(time.time(), lambda h: h["queue"]["drops"]["ttl"] == 20, scaled(15),
                                   "20 readings dropped past the TTL")
        self.assert_schema(raw, "health")
        self.assertEqual(h["queue"]["readings"], 0)
        self.assertGreaterEqual(h["queue"]["gap_records"], 1)

        # The queue report reads the same store (store::inspect), read-only, while the gateway runs.
        done = subprocess.run([str(fogtest.executable(fogstack.GATEWAY)), "--config", str(self.config),
                               "--queue", "--json"], capture_output=True, text=True, timeout=scaled(30))
        self.assertEqual(done.returncode, 0, done.stderr)
        q = json.loads(done.stdout)
        self.assertEqual((q["readings"], q["drops_total"]["ttl"], q["gap_readings"]["ttl"]), (0, 20, 20), q)
        self.assertEqual(q["gap_records"] + q["leased_gap_messages"], h["queue"]["gap_records"], q)

        self.cloud.restart()

        def records():
            found = [g for m in gaps.messages() for g in self.assert_schema(m.payload, "gaps")["gaps"]]
            return found if sum(g["count"] for g in found) >= 20 else None
        found = wait_until(records, scaled(30), "gap records of the 20 readings in the cloud")
        self.assertEqual({g["reason"] for g in found}, {"ttl"})
        self.assertEqual({(g["device"], g["boot"]) for g in found}, {(DEVICE, 7)})
        dropped = {seq for g in found for first, last in g["dropped"] for seq in range(first, last + 1)}
        self.assertEqual(dropped, set(range(1, 21)))
        self.assertEqual(self.cloud_seqs(), set())


class DeviceHealthTest(OpsCase):
    def test_a_board_reports_its_health_with_battery_and_the_gateway_relays_it(self):
        self.start_stack()
        board = "sensor-02"
        root = self.work_dir / "sysfs"
        for name, text in {"AC/type": "Mains", "BAT0/type": "Battery", "BAT0/capacity": "87"}.items():
            path = root / "class" / "power_supply" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
        upstream = self.collector(self.cloud, f"fogbridge/{self.pki.gateway_id}/devices/{board}/health")
        local = self.collector(self.local, f"devices/{board}/health")
        fogstack.start_sensor(self, self.local, board, "--source", "simulated", "--rate", 5,
                              "--health-interval", 0.2, "--sysfs-root", root, "--buffer", 500)
        reports = upstream.wait_for(3, 15)
        for m in reports + local.wait_for(1):
            self.assert_schema(m.payload, "device-health")
        last = reports[-1].json()
        self.assertEqual(last["battery_pct"], 87)
        self.assertNotIn("rssi_dbm", last)  # fogbridge-sensor has no radio to ask
        self.assertEqual(last["buffer"]["capacity"], 500)
        self.assertEqual(last["reconnects"], 0)
        uptimes = [m.json()["uptime_s"] for m in reports]
        self.assertEqual(uptimes, sorted(uptimes))
        self.assertEqual(len({m.json()["boot"] for m in reports}), 1)


SCHED_BATCH = 3


def threads(pid):
    """{thread name: scheduling policy} of a running process, from /proc."""
    out = {}
    for stat in pathlib.Path(f"/proc/{pid}/task").glob("*/stat"):
        text = stat.read_text()
        name = text[text.index("(") + 1:text.rindex(")")]
        out[name] = int(text[text.rindex(")") + 2:].split()[38])
    return out


class ThreadsTest(OpsCase):
    def test_threads_are_named_and_the_store_side_runs_as_batch_work(self):
        # The commit and pipeline threads must not preempt the ingest thread, which is in a
        # ping-pong with the broker (docs/benchmarks.md).
        self.start_stack()
        self.send(range(1, 4))
        self.wait_ack(3)
        got = threads(self.gateway.pid)
        for name in ("fb-ingest", "fb-pipeline", "fb-commit", "fb-uplink"):
            self.assertIn(name, got)
        self.assertEqual(got["fb-pipeline"], SCHED_BATCH)
        self.assertEqual(got["fb-commit"], SCHED_BATCH)
        self.assertNotEqual(got["fb-ingest"], SCHED_BATCH)


# Units that are not Prometheus base units, as name tokens.
NON_BASE_UNITS = {"ms", "msec", "millis", "milliseconds", "us", "microseconds", "ns", "minutes",
                  "hours", "days", "kb", "mb", "gb", "kib", "mib", "gib", "kilobytes", "megabytes",
                  "percent", "pct", "bits"}


class MetricsTest(OpsCase):
    def fetch(self, path="/metrics"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=scaled(5)) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")

    def families(self, text):
        return {f.name: f for f in text_string_to_metric_families(text)}

    @staticmethod
    def value(families, family, sample=None, **labels):
        for s in families[family].samples:
            if s.name == (sample or family) and s.labels == labels:
                return s.value
        raise AssertionError(f"no sample {sample or family}{labels} in family {family}")

    def test_the_page_parses_follows_the_conventions_and_agrees_with_health(self):
        self.metrics_port = free_port()
        self.start_stack({"metrics": {"port": self.metrics_port}})
        self.send(range(1, 31))
        self.wait_ack(30)
        self.send([5])  # a re-send: counted as a duplicate
        self.device.publish(f"devices/{DEVICE}/readings", b"{not json")
        self.device.publish(f"devices/{DEVICE}/readings",
                            {"sensor": "t", "value": "hot", "ts": time.time(), "boot": 7, "seq": 31})
        wait_until(lambda: self.cloud_seqs() == set(range(1, 31)), 15, "30 readings in the cloud")
        quiet = lambda h: (h["queue"]["readings"] == 0 and h["counters"]["duplicates"] == 1  # noqa: E731
                           and h["counters"]["rejected_total"] == 2 and h["counters"]["readings_sent"] == 30)
        self.report_after(time.time(), quiet, what="the traffic counted and sent")

        status, content_type, before = self.fetch()
        h, _ = self.report_after(time.time(), what="a report after the first page")
        _, _, after = self.fetch()
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)

        fams = self.families(after)
        self.assert_conventions(after, fams)
        counters = {  # metric family (as the parser names it) -> health figure
            "fogbridge_readings_received": h["counters"]["received"],
            "fogbridge_readings_stored": h["counters"]["stored"],
            "fogbridge_readings_filtered": h["counters"]["filtered"],
            "fogbridge_readings_duplicate": h["counters"]["duplicates"],
            "fogbridge_readings_sent": h["counters"]["readings_sent"],
            "fogbridge_batches_sent": h["counters"]["batches_sent"],
            "fogbridge_batches_acked": h["counters"]["batches_acked"],
            "fogbridge_replay_batches_sent": h["counters"]["replay_batches_sent"],
        }
        first = self.families(before)
        for family, expected in counters.items():
            got = self.value(fams, family, family + "_total")
            self.assertEqual(got, self.value(first, family, family + "_total"), f"{family} still moving")
            self.assertEqual(got, expected, family)
        rejects = {s.labels["reason"]: s.value for s in fams["fogbridge_rejects"].samples}
        self.assertEqual(rejects, {k: float(v) for k, v in h["counters"]["rejected"].items()})
        self.assertEqual(rejects, {"bad_json": 1.0, "wrong_type": 1.0})
        self.assertEqual(self.value(fams, "fogbridge_readings_stored", "fogbridge_readings_stored_total"), 30)
        self.assertEqual(self.value(fams, "fogbridge_readings_sent", "fogbridge_readings_sent_total"), 30)
        self.assertEqual(self.value(fams, "fogbridge_readings_acked", "fogbridge_readings_acked_total"),
                         h["counters"]["readings_acked"])
        self.assertEqual(h["counters"]["readings_acked"], h["counters"]["readings_sent"])
        self.assertEqual(self.value(fams, "fogbridge_queue_readings"), h["queue"]["readings"])
        for name in ("held_bytes", "pending_bytes", "pending_readings", "gap_records"):
            self.assertEqual(self.value(fams, f"fogbridge_queue_{name}"), h["queue"][name], name)
        self.assertEqual(h["queue"]["bytes"], h["queue"]["held_bytes"])
        self.assertEqual(self.value(fams, "fogbridge_queue_leased_batches"), h["queue"]["leased_batches"])
        self.assertEqual(self.value(fams, "fogbridge_queue_replay_readings"), h["queue"]["replay_readings"])
        self.assertNotIn("fogbridge_queue_oldest_age_seconds", fams)  # empty queue: no age
        self.assertEqual(self.value(fams, "fogbridge_uplink_connected"), 1)
        self.assertEqual(h["uplink"]["state"], "connected")
        self.assertEqual(self.value(fams, "fogbridge_build_info", gateway=self.pki.gateway_id,
                                    version=h["version"]), 1)
        status, _, body = self.fetch("/healthz")
        self.assertEqual((status, body.strip()), (200, "ok"))

    def assert_conventions(self, text, fams):
        """Every sample belongs to a declared family with help text; names are valid, in base
        units given as suffixes, counters end in _total and nothing else does."""
        declared = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
        self.assertTrue(declared)
        for name, f in fams.items():
            self.assertNotEqual(f.type, "untyped", f"{name}: sample without a # TYPE line")
            self.assertTrue(name.startswith("fogbridge_"), name)
            self.assertTrue(f.documentation, f"{name}: no # HELP")
            tokens = name.split("_")
            self.assertFalse(NON_BASE_UNITS & set(tokens), f"{name}: not a base unit")
            for unit in ("seconds", "bytes"):
                if unit in tokens:
                    self.assertEqual(tokens[-1], unit, f"{name}: the unit is not the suffix")
            if f.type == "counter":
                self.assertEqual(declared.get(name + "_total"), "counter", f"{name}: counter without _total")
                self.assertTrue(all(s.name == name + "_total" for s in f.samples), name)
            else:
                self.assertEqual(declared.get(name), f.type, name)
                self.assertFalse(name.endswith("_total"), f"{name}: a {f.type} named like a counter")
        for name, kind in declared.items():
            self.assertIn(kind, ("counter", "gauge", "summary", "histogram"), name)


class SigtermTest(FaultCase):
    """Boards stream through the gateway (test_faults' stack) while it gets SIGTERM."""

    def start_stack(self, sections=None):
        conf = {"gateway": {"drain_timeout": DRAIN_TIMEOUT}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        super().start_stack(conf)

    def sigterm_and_time_the_exit(self):
        mark = self.gateway.mark()
        started, signalled = time.monotonic(), time.time()
        self.gateway.signal(signal.SIGTERM)
        code = self.gateway.wait(DRAIN_TIMEOUT + 10)
        took = time.monotonic() - started
        print(f"\n{self.id()}: exit {code} {took:.2f} s after SIGTERM", file=sys.stderr)
        self.assertEqual(code, 0, self.gateway.output()[-2000:])
        # The deadline bounds the drain itself; allow for process start-up noise on a busy box.
        self.assertLess(took, scaled(DRAIN_TIMEOUT + 0.5), f"exit took {took:.2f} s")
        self.gateway.wait_for_log(r"SIGTERM: draining", 1, since=mark)
        self.gateway.wait_for_log(r"stopped; (nothing left undelivered|left undelivered in the store)", 1, since=mark)
        wait_until(lambda: any(h["status"] == "stopping" and h["ts"] >= signalled
                               for h in (m.json() for m in self.health.messages())), 5,
                   "the last health report, with status stopping")
        return took

    def test_sigterm_mid_stream_exits_0_and_loses_nothing(self):
        self.start_stack()
        self.wait_streaming()
        self.sigterm_and_time_the_exit()
        self.gateway = self.start_gateway()
        self.wait_streaming()
        self.finish_and_audit()

    def test_sigterm_with_the_cloud_frozen_exits_0_at_the_deadline(self):
        # No PUBACK watchdog during the drain: the batches must still be in flight at the deadline.
        self.start_stack({"cloud": {"puback_timeout": 60}})
        self.wait_streaming()
        self.cloud.sigstop()
        frozen = time.time()
        wait_until(lambda: any(h["ts"] > frozen and h["uplink"]["in_flight"] > 0
                               for h in (m.json() for m in self.health.messages())), 10,
                   "batches in flight to the frozen broker")
        took = self.sigterm_and_time_the_exit()
        self.assertGreater(took, DRAIN_TIMEOUT - 1.0, "it did not wait for the PUBACKs")
        self.cloud.sigcont()
        self.gateway = self.start_gateway()
        self.wait_streaming()
        self.finish_and_audit()


class HealthzTest(OpsCase):
    """/healthz: a quiet site is healthy, an uplink holding batches without a PUBACK is not (with
    the reason), and idle clients cannot take every slot of the server."""

    STUCK_AFTER = 1.5

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}",
                                        timeout=scaled(5)) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")

    def test_quiet_is_healthy_a_frozen_cloud_is_stuck_and_idle_clients_do_not_block(self):
        self.metrics_port = free_port()
        self.start_stack({"metrics": {"port": self.metrics_port, "stuck_after": self.STUCK_AFTER},
                          "cloud": {"puback_timeout": 60}})
        # More idle clients than the server has slots (16), each with half a request sent.
        idle = [socket.create_connection(("127.0.0.1", self.metrics_port)) for _ in range(40)]
        self.addCleanup(lambda: [s.close() for s in idle])
        for s in idle:
            s.sendall(b"GET /metr")
        # Quiet for twice stuck_after: nothing waits anywhere, so nothing is stuck.
        until = time.monotonic() + 2 * self.STUCK_AFTER
        while time.monotonic() < until:
            self.assertEqual(self.get("/healthz"), (200, "ok\n"))
            time.sleep(0.2)
        status, page = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("fogbridge_local_subscribed 1\n", page)
        self.assertIn("fogbridge_local_subscription_refused_total 0\n", page)

        self.cloud.sigstop()
        try:
            self.send(range(1, 11))
            wait_until(lambda: self.get("/healthz")[0] == 503, scaled(20), "/healthz unhealthy")
            status, text = self.get("/healthz")
            self.assertEqual(status, 503)
            self.assertRegex(text, r"^unhealthy: uplink stuck: \d+ batch\(es\) unacknowledged")
            # The health reports (every 0.3 s) take the same verdict, and the log says so.
            self.gateway.wait_for_log(r"unhealthy: uplink stuck", 5)
        finally:
            self.cloud.sigcont()
        wait_until(lambda: self.get("/healthz") == (200, "ok\n"), scaled(20), "healthy again")
        self.gateway.wait_for_log(r"healthy again", 5)
        wait_until(lambda: self.cloud_seqs() >= set(range(1, 11)), scaled(15), "the readings sent")


if __name__ == "__main__":
    unittest.main()
