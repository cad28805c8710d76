#!/usr/bin/python3
"""Delivery under faults (label `fault`): boards stream, something breaks for real, it heals, the
queue drains, and the audit finds nothing missing; every duplicate at the cloud is a re-send of a
batch_id the cloud already saw."""

import importlib.machinery
import json
import pathlib
import re
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import REPO_ROOT, FogTestCase, wait_until  # noqa: E402

audit_tool = importlib.machinery.SourceFileLoader(
    "fogbridge_audit", str(REPO_ROOT / "tools" / "fogbridge-audit")).load_module()

BOARDS = ["sensor-01", "sensor-02", "sensor-03"]
SUMMARY = re.compile(r"fogbridge-sensor: id=(\S+) boot=(\d+) published=(\d+) recovered=(\d+) acked=(\d+)")


class FaultCase(FogTestCase):
    def start_stack(self, sections=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        conf = {"cloud": {"puback_timeout": 3, "keepalive": 5}, "gateway": {"health_interval": 0.5}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = self.start_gateway()
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                       for i, b in enumerate(BOARDS, start=1)]

    def start_gateway(self):
        gw = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)
        return gw

    def stored(self):
        msgs = self.health.messages()
        return msgs[-1].json()["counters"]["stored"] if msgs else 0

    def wait_streaming(self, more=100):
        start = len(fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")]))
        wait_until(lambda: len(fogstack.batch_readings(
            [m for m in self.received.messages() if m.topic.endswith("/batch")])) >= start + more, 30,
            f"{more} more readings at the cloud")

    def finish_and_audit(self):
        """Stops the boards (they flush until acknowledged), waits for an empty queue, audits."""
        sent = set()
        for b in self.boards:
            b.stop(timeout=90)
            m = SUMMARY.search(b.stdout())
            self.assertIsNotNone(m, b.output()[-2000:])
            device, boot, published = m.group(1), int(m.group(2)), int(m.group(3))
            recovered, acked = int(m.group(4)), int(m.group(5))
            self.assertEqual(acked, published + recovered, f"{device} still holds unacknowledged readings")
            sent |= {(device, boot, seq) for seq in range(1, published + 1)}

        stopped = time.time()

        def drained():
            # Only a report made after the boards' last commit can say the queue is empty.
            msgs = [m.json() for m in self.health.messages()]
            fresh = [h for h in msgs if h["ts"] > stopped]
            return fresh and fresh[-1]["queue"]["readings"] == 0 and fresh[-1]["queue"]["leased_batches"] == 0
        wait_until(drained, 60, "an empty queue")

        def audited():
            received = [audit_tool.record(m.topic, m.payload) for m in self.received.messages()]
            with open(self.work_dir / "received.jsonl", "w", encoding="utf-8") as f:  # for post-mortems
                f.writelines(json.dumps(m) + "\n" for m in received)
            return audit_tool.audit(sent, received)
        # The last PUBACKed batch may reach the test's subscriber a moment after the queue empties.
        try:
            wait_until(lambda: audited()["missing"] == 0, 10, "the last batches at the subscriber")
        except AssertionError:
            pass
        report = audited()
        print(f"\n{self.id()}: {json.dumps(report)}", file=sys.stderr)
        self.assertEqual(report["missing"], 0, report)
        self.assertEqual(report["duplicates_with_new_batch_id"], 0, report)
        self.assertGreater(report["delivered"], 0)
        return report


class FaultTest(FaultCase):
    def test_cloud_broker_stopped_for_30_s(self):
        self.start_stack()
        self.wait_streaming()
        mark = self.gateway.mark()
        self.cloud.stop()
        stopped = time.monotonic()
        # A closed port fails the attempt at once (it used to spin until connect_timeout).
        self.gateway.wait_for_log(r"cannot connect: connection refused or reset before CONNACK", 20, since=mark)
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))  # the outage itself is the scenario
        self.cloud.restart()
        self.wait_streaming()
        report = self.finish_and_audit()
        self.assertGreater(report["delivered_in_replay"], 0, report)  # the outage's backlog

    def test_gateway_killed_mid_batch_five_times(self):
        self.start_stack()
        for _ in range(5):
            self.wait_streaming(50)
            self.gateway.kill()
            self.gateway = self.start_gateway()
        self.wait_streaming()
        self.finish_and_audit()

    def test_zstd_over_mqtt_3_1_1_with_a_kill(self):
        """No MQTT 5 property announces the compression: consumers tell zstd by its magic bytes."""
        self.start_stack({"cloud": {"mqtt_version": "3.1.1", "compression": "zstd"}})
        self.wait_streaming(50)
        self.gateway.kill()
        self.gateway = self.start_gateway()
        self.wait_streaming()
        self.finish_and_audit()
        batches = self.received.messages(f"fogbridge/{self.pki.gateway_id}/batch")
        self.assertTrue(batches)
        for m in batches:
            self.assertTrue(m.payload.startswith(b"\x28\xb5\x2f\xfd"), m.payload[:16])
            body = m.json()  # inflated by its magic
            self.assert_schema(body, "batch")
        # batch.layout = "auto" means columnar when compressed; a batch of one-reading series
        # may go as rows, never all of them.
        self.assertTrue(any("series" in m.json() for m in batches))

    def test_local_broker_killed_and_restarted(self):
        self.start_stack()
        self.wait_streaming()
        self.local.restart(kill=True)
        self.wait_streaming()
        self.finish_and_audit()

    def test_cloud_broker_frozen_longer_than_the_watchdog(self):
        self.start_stack()
        self.wait_streaming()
        self.cloud.sigstop()
        self.gateway.wait_for_log(r"no PUBACK for 3 s|connection lost", 30)
        self.cloud.sigcont()
        self.wait_streaming()
        self.finish_and_audit()

    def test_store_byte_limit_reached_during_an_outage(self):
        self.start_stack({"store": {"max_bytes": 40000, "policy": "drop_oldest"}})
        self.wait_streaming()
        self.cloud.stop()

        def drops():
            msgs = self.health.messages()
            return msgs[-1].json()["queue"]["drops"]["store_full_bytes"] if msgs else 0
        wait_until(lambda: drops() >= 200, 60, "200 readings dropped at the byte limit")
        self.cloud.restart()
        self.wait_streaming()
        report = self.finish_and_audit()
        # Every reading the gateway dropped is named by a gap record, and nothing else is missing.
        self.assertEqual(set(report["dropped"]), {"store_full_bytes"}, report)
        self.assertEqual(report["dropped"]["store_full_bytes"], drops(), report)
        gaps = self.received.messages(f"fogbridge/{self.pki.gateway_id}/gaps")
        self.assertTrue(gaps, "no gap message arrived")
        for m in gaps:
            self.assert_schema(m.payload, "gaps")

    def test_gateway_stopped_while_boards_buffer(self):
        self.start_stack()
        self.wait_streaming()
        self.gateway.stop()
        time.sleep(5)  # boards keep publishing into their buffers
        self.gateway = self.start_gateway()
        self.wait_streaming()
        self.finish_and_audit()


if __name__ == "__main__":
    unittest.main()
