#!/usr/bin/python3
"""fogbridge-sink against a real PostgreSQL 15 and real brokers: boards to rows with nothing
missing and nothing twice, the SQL audit agreeing with tools/fogbridge-audit, re-sent batches
absorbed, hostile messages rejected with a reason without poisoning the stream."""

import importlib.machinery
import json
import pathlib
import re
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogpg  # noqa: E402
import fogstack  # noqa: E402
from fogtest import REPO_ROOT, FogTestCase, wait_until  # noqa: E402

audit_tool = importlib.machinery.SourceFileLoader(
    "fogbridge_audit", str(REPO_ROOT / "tools" / "fogbridge-audit")).load_module()

BOARDS = ["sensor-01", "sensor-02", "sensor-03"]
SUMMARY = re.compile(r"fogbridge-sensor: id=(\S+) boot=(\d+) published=(\d+) recovered=(\d+) acked=(\d+)")


def synthetic_batch(gateway, batch_id, device, boot, first, count, replay=False):
    readings = [{"device": device, "sensor": "temperature", "value": 20 + seq / 100, "unit": "C",
                 "ts": 1732630000 + seq / 10, "boot": boot, "seq": seq}
                for seq in range(first, first + count)]
    return {"gateway": gateway, "batch_id": batch_id, "created": time.time(), "replay": replay,
            "readings": readings,
            "ranges": [{"device": device, "boot": boot, "first": first, "last": first + count - 1}]}


_pg = None


def setUpModule():
    # One server for the module (initdb is the slow part); every test has a schema of its own.
    global _pg
    if fogpg.available():
        _pg = fogpg.Postgres()
        try:
            _pg.start()
        except Exception:
            _pg.cleanup()
            raise


def tearDownModule():
    if _pg:
        _pg.cleanup()


@unittest.skipUnless(fogpg.available(), "PostgreSQL 15 server binaries not installed")
class SinkCase(FogTestCase):
    schemas = 0

    def setUp(self):
        super().setUp()
        self.pg = _pg
        if not self.pg.running:  # a test that stopped it failed before starting it again
            self.pg.start()
        SinkCase.schemas += 1
        self.schema = f"t{SinkCase.schemas}_{int(time.time() * 1000) % 100000}"

    def start_sink(self, cloud, client_id="sink-1", sections=None, name=None):
        conf = {"database": {"schema": self.schema}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        path = fogpg.sink_config(self.work_dir / f"{client_id}.toml", self.pg, cloud, self.pki,
                                 client_id=client_id, sections=conf)
        return fogpg.Sink(self, path, name=name or client_id).start()

    def count(self, sql):
        return int(self.pg.scalar(sql.format(s=self.schema)))

    def rows(self):
        return self.count("SELECT count(*) FROM {s}.readings")

    def assert_no_duplicate_rows(self):
        self.assertEqual(self.count("SELECT count(*) FROM (SELECT device, boot, seq FROM {s}.readings "
                                    "GROUP BY 1, 2, 3 HAVING count(*) > 1) AS d"), 0)

    def sql_audit(self, sink):
        done = __import__("subprocess").run(
            [str(fogpg.fogtest.executable(fogpg.SINK)), "--config", str(sink.config), "--audit",
             "--json"], capture_output=True, text=True, timeout=60)
        self.assertIn(done.returncode, (0, 1), done.stderr)
        return json.loads(done.stdout)


class SinkEndToEndTest(SinkCase):
    def test_boards_to_rows_nothing_missing_and_the_audits_agree_and_resends_are_absorbed(self):
        local = self.start_broker("local")
        cloud = self.start_broker("cloud")
        received = self.collector(cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"], clean_session=False)
        sink = self.start_sink(cloud)
        # zstd batches over MQTT 5 (the sink, an MQTT 3.1.1 client, tells them by their bytes).
        config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, local, cloud,
                                         self.work_dir / "q.db", {"gateway": {"health_interval": 0.5},
                                                                  "filter.default": {"deadband": 0.3},
                                                                  "cloud": {"compression": "zstd",
                                                                            "mqtt_version": "5"}})
        fogstack.start_gateway(self, config)
        fogstack.wait_gateway_online(self, local)
        boards = [fogstack.start_sensor(self, local, b, "--source", "simulated", "--rate", 25,
                                        "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                  for i, b in enumerate(BOARDS, start=1)]
        wait_until(lambda: self.rows() >= 80, 30, "80 rows in PostgreSQL")
        sent = set()
        for b in boards:
            b.stop(timeout=60)
            m = SUMMARY.search(b.stdout())
            self.assertIsNotNone(m, b.output()[-2000:])
            sent |= {(m.group(1), int(m.group(2)), seq) for seq in range(1, int(m.group(3)) + 1)}

        inflated = {}

        def text(payload):
            if payload[:4] != b"\x28\xb5\x2f\xfd":
                return payload.decode()
            if payload not in inflated:
                inflated[payload] = fogpg_zstd(payload, "-d").decode()
            return inflated[payload]

        def report():
            msgs = [{"topic": x.topic, "payload": text(x.payload)} for x in received.messages()]
            return audit_tool.audit(sent, msgs)
        wait_until(lambda: report()["missing"] == 0, 30, "every reading at the cloud subscriber")
        expected = report()
        wait_until(lambda: self.rows() == expected["delivered"], 30,
                   f"{expected['delivered']} rows in PostgreSQL")
        self.assert_no_duplicate_rows()
        sql = self.sql_audit(sink)
        print(f"\n{self.id()}: tool {json.dumps(expected)} sql {json.dumps(sql)}", file=sys.stderr)
        self.assertEqual(sql["missing"], 0, sql)
        self.assertEqual(sql["delivered"], expected["delivered"])
        self.assertEqual(sql["dropped"], sum(expected["dropped"].values()))
        self.assertEqual(self.count("SELECT count(*) FROM {s}.missing"), 0)
        self.assertEqual(self.count("SELECT count(*) FROM {s}.batches WHERE NOT compressed"), 0)
        self.assertGreater(expected["filtered"], 0, "the deadband filtered nothing: coverage untested")

        # Every batch again, as a gateway re-sends after a lost PUBACK: nothing new.
        batches = self.count("SELECT count(*) FROM {s}.batches")
        before = sink.metric("fogbridge_sink_duplicates_total")
        gateway = self.client(cloud, "gateway")
        for x in received.messages("fogbridge/+/batch"):
            gateway.publish(x.topic, x.payload, qos=1)
        wait_until(lambda: sink.metric("fogbridge_sink_duplicates_total") >= before + expected["delivered"],
                   30, "the re-sent readings absorbed")
        self.assertEqual(self.rows(), expected["delivered"])
        self.assertEqual(self.count("SELECT count(*) FROM {s}.batches"), batches)
        self.assert_no_duplicate_rows()
        self.assertGreater(self.count("SELECT count(*) FROM {s}.health"), 0)
        self.assertEqual(self.pg.scalar(f"SELECT status FROM {self.schema}.gateways"), "online")
        self.assertEqual(sink.process.stop(), 0)


class SinkHostileTest(SinkCase):
    def test_hostile_messages_are_rejected_with_a_reason_and_good_data_still_lands(self):
        cloud = self.start_broker("cloud")
        sink = self.start_sink(cloud, sections={"sink": {"max_payload_bytes": 65536}})
        gw = self.client(cloud, "gateway")
        good = [synthetic_batch("gw-01", f"gw-01-{i}", "sensor-01", 1, 1 + 10 * i, 10) for i in range(4)]
        gw.publish("fogbridge/gw-01/batch", good[0])
        gw.publish("fogbridge/gw-01/batch", "{not json")
        gw.publish("fogbridge/gw-01/batch", {"gateway": "gw-01", "batch_id": 5, "readings": [], "ranges": []})
        mixed = synthetic_batch("gw-01", "gw-01-mixed", "sensor-02", 1, 1, 3)
        mixed["readings"][1]["value"] = "hot"
        gw.publish("fogbridge/gw-01/batch", mixed)
        gw.publish("fogbridge/gw-01/batch", fogpg_zstd(json.dumps(good[1]).encode()))
        # gw-02 claims sensor-01, which gw-01 serves: the first gateway seen owns a device.
        gw.publish("fogbridge/gw-02/batch", synthetic_batch("gw-02", "gw-02-1", "sensor-01", 1, 100, 5))
        huge = synthetic_batch("gw-01", "gw-01-huge", "sensor-03", 1, 1, 2000)
        gw.publish("fogbridge/gw-01/batch", huge)
        gw.publish("fogbridge/gw-01/batch", b"\x28\xb5\x2f\xfd broken frame")
        gw.publish("fogbridge/gw-01/batch", good[2])
        gw.publish("fogbridge/gw-01/batch", good[3])
        gw.publish("fogbridge/gw-01/batch", good[0])  # a re-send
        # sensor-01's batches cover seq 1..40; a gap record accounts for 41..50, 41..45 dropped.
        gaps = {"gateway": "gw-01", "gap_id": "gw-01-g1", "created": time.time(),
                "gaps": [{"device": "sensor-01", "boot": 1, "reason": "store_full", "first_seq": 41,
                          "last_seq": 50, "count": 5, "dropped": [[41, 45]], "first_ts": 1.0,
                          "last_ts": 2.0, "created": 3.0}]}
        gw.publish("fogbridge/gw-01/gaps", gaps)
        gw.publish("fogbridge/gw-01/gaps", gaps)  # re-sent: recorded once
        alert = {"gateway": "gw-01", "device": "sensor-01", "sensor": "temperature", "value": 81.5,
                 "threshold": 80, "unit": "C", "rule": "above", "ts": 1732630000.5, "boot": 1}
        gw.publish("fogbridge/gw-01/alerts", alert)
        gw.publish("fogbridge/gw-01/alerts", alert)  # the same alert again: stored once
        gw.publish("fogbridge/gw-01/devices/sensor-01/health", {"device": "sensor-01", "boot": 1, "ts": 5.0})
        gw.publish("fogbridge/gw-01/devices/sensor-01/health", {"device": "sensor-01", "boot": 1, "ts": 9.0})
        wait_until(lambda: sink.metric("fogbridge_sink_batches_total") >= 6, 20, "the good batches")
        wait_until(lambda: self.count("SELECT count(*) FROM {s}.rejects") >= 6, 20, "the rejects")
        reasons = {r[0]: int(r[1]) for r in self.pg.query(
            f"SELECT reason, count(*) FROM {self.schema}.rejects GROUP BY 1")}
        self.assertEqual(reasons, {"bad_json": 1, "bad_type": 2, "foreign_device": 1, "too_large": 1,
                                   "bad_zstd": 1}, reasons)
        self.assertEqual(self.rows(), 40 + 2)
        self.assertEqual(self.count("SELECT count(*) FROM {s}.readings WHERE device = 'sensor-01' "
                                    "AND gateway = 'gw-02'"), 0)
        self.assertEqual(self.count("SELECT count(*) FROM {s}.batches WHERE compressed"), 1)
        self.assertEqual(sink.metric('fogbridge_sink_rejected_total{reason="too_large"}'), 1)
        self.assertEqual(sink.metric("fogbridge_sink_duplicates_total"), 10)
        self.assertRegex(sink.process.output(), r"too_large on fogbridge/gw-01/batch")
        wait_until(lambda: sink.metric('fogbridge_sink_messages_total{kind="health"}') >= 2, 10,
                   "the health reports")
        self.assertEqual(self.count("SELECT count(*) FROM {s}.alerts"), 1)
        self.assertEqual(self.pg.scalar(f"SELECT extract(epoch FROM ts) FROM {self.schema}.health "
                                        "WHERE device = 'sensor-01'"), "9.000000")
        # sensor-02's refused seq 2 lies in its batch's range, but it is no row: missing.
        sql = self.sql_audit(sink)
        self.assertEqual(sql["missing_runs"], [["sensor-02", 1, 2, 2]], sql)
        self.assertEqual(sql["dropped"], 5, sql)
        self.assertEqual(self.count("SELECT count(*) FROM {s}.gaps"), 1)
        self.assertEqual(self.count("SELECT count(*) FROM {s}.rejects WHERE detail LIKE 'reading:%'"), 1)


class SinkScaleTest(SinkCase):
    def publish_batches(self, gw, batches, pace=0.0, during=None):
        for i, (device, first) in enumerate(batches):
            if during and i in during:
                during[i]()
            gw.publish(f"fogbridge/gw-01/batch",
                       synthetic_batch("gw-01", f"gw-01-{device}-{first}", device, 1, first, 50))
            if pace:
                time.sleep(pace)

    def assert_complete(self, expected_rows):
        self.assertEqual(self.rows(), expected_rows)
        self.assert_no_duplicate_rows()
        self.assertEqual(self.count("SELECT count(*) FROM {s}.missing"), 0)

    def test_three_sinks_share_the_stream_and_one_killed_mid_stream_loses_and_duplicates_nothing(self):
        cloud = self.start_broker("cloud")
        group = {"mqtt": {"share_group": "sinks"}}
        sinks = [self.start_sink(cloud, client_id=f"sink-{i}", sections=group) for i in (1, 2, 3)]
        gw = self.client(cloud, "gateway")
        batches = [(d, 1 + 50 * i) for i in range(80) for d in BOARDS]  # 240 batches, 12000 rows
        notes = {}

        def kill():
            sinks[1].process.kill()
            notes["rows_at_kill"] = self.rows()
        self.publish_batches(gw, batches, pace=0.01, during={100: kill})
        wait_until(lambda: self.rows() > notes["rows_at_kill"], 20, "the other sinks writing on")
        time.sleep(2)  # what the broker does with the killed member's share while it is away
        notes["rows_while_away"] = self.rows()
        sinks[1].start()
        wait_until(lambda: self.rows() == 12000, 60, "12000 rows", interval=0.2)
        self.assert_complete(12000)
        per_sink = [s.metric("fogbridge_sink_batches_total") for s in sinks]
        print(f"\n{self.id()}: {notes} batches per sink after the restart {per_sink}", file=sys.stderr)
        self.assertTrue(all(n > 0 for n in (per_sink[0], per_sink[2])), per_sink)
        for s in sinks:
            self.assertEqual(s.process.stop(), 0)

    def test_database_stopped_for_20_s_under_load(self):
        cloud = self.start_broker("cloud")
        sink = self.start_sink(cloud)
        gw = self.client(cloud, "gateway")
        batches = [(d, 1 + 50 * i) for i in range(60) for d in BOARDS]  # 180 batches, 9000 rows
        self.publish_batches(gw, batches[:30], pace=0.02)
        wait_until(lambda: self.rows() > 0, 20, "rows")
        self.pg.stop()
        stopped = time.monotonic()
        self.publish_batches(gw, batches[30:150], pace=0.05)
        wait_until(lambda: sink.metric("fogbridge_sink_database_errors_total") > 0, 10, "a database error")
        self.assertEqual(sink.metric("fogbridge_sink_database_up"), 0)
        # Nothing is acknowledged: what the broker sent waits in the sink, the rest in the broker.
        wait_until(lambda: sink.metric("fogbridge_sink_pending_messages") >= 50, 20,
                   "messages held unacknowledged")
        time.sleep(max(0.0, 20 - (time.monotonic() - stopped)))  # the outage itself is the scenario
        self.pg.start()
        self.publish_batches(gw, batches[150:], pace=0.02)
        wait_until(lambda: self.rows() == 9000, 60, "9000 rows", interval=0.2)
        self.assert_complete(9000)
        self.assertEqual(sink.metric("fogbridge_sink_database_up"), 1)
        self.assertEqual(sink.process.stop(), 0)


def fogpg_zstd(data, *args):
    import subprocess
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, capture_output=True, check=True).stdout


class SinkStartupTest(SinkCase):
    def test_bad_config_and_a_newer_schema_stop_with_one_line(self):
        sink_bin = fogpg.fogtest.executable(fogpg.SINK)
        bad = self.work_dir / "bad.toml"
        bad.write_text("[mqtt]\nport = 70000\n")
        import subprocess
        done = subprocess.run([sink_bin, "--config", str(bad), "--check-config"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stderr.strip().count("\n"), 0)
        self.assertIn("mqtt.port:", done.stderr)
        cloud = self.start_broker("cloud")
        sink = self.start_sink(cloud)
        self.assertEqual(sink.process.stop(), 0)
        self.pg.query(f"UPDATE {self.schema}.schema_version SET version = 99")
        sink.process.start()
        self.assertEqual(sink.process.wait(15), 1)
        self.assertRegex(sink.process.stderr(), r"fogbridge-sink: database: schema \S+ is at version 99")


if __name__ == "__main__":
    unittest.main()
