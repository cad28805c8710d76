#!/usr/bin/python3
"""End to end: device -> local broker (mTLS + ACL) -> gateway -> SQLite -> cloud broker (mTLS)."""

import pathlib
import re
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, wait_until  # noqa: E402

DEVICE = "sensor-01"


def reading(seq, value=21.5, sensor="temperature", boot=7):
    return {"sensor": sensor, "value": value, "unit": "C", "ts": time.time(), "boot": boot, "seq": seq}


class GatewayCase(FogTestCase):
    def start_stack(self, sections=None, rules=None, cloud_identity="gateway"):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gateway.toml", self.pki, self.local,
                                              self.cloud, self.work_dir / "queue.db", sections,
                                              rules, cloud_identity)
        self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.device.subscribe(f"devices/{DEVICE}/ack")

    def wait_ack(self, seq, boot=7, timeout=15):
        def acked():
            return any(m.json() == {"boot": boot, "seq": seq} for m in self.device.messages(f"devices/{DEVICE}/ack"))
        wait_until(acked, timeout, f"ack of seq {seq}")

    def cloud_readings(self):
        return fogstack.batch_readings(self.batches.messages())


class EndToEndTest(GatewayCase):
    def test_readings_arrive_in_a_schema_valid_batch_with_values_intact(self):
        self.start_stack()
        sent = [reading(seq, value=20 + seq / 8) for seq in range(1, 11)]
        self.device.publish(f"devices/{DEVICE}/readings", sent[:4])  # an array message
        for r in sent[4:]:
            self.device.publish(f"devices/{DEVICE}/readings", r)
        self.wait_ack(10)
        wait_until(lambda: len(self.cloud_readings()) >= 10, 15, "10 readings in the cloud")
        for m in self.batches.messages():
            self.assert_schema(m.payload, "batch")
        got = {(r["device"], r["boot"], r["seq"]): r for r in self.cloud_readings()}
        self.assertEqual(len(got), 10)
        for r in sent:
            c = got[(DEVICE, 7, r["seq"])]
            self.assertEqual((c["sensor"], c["value"], c["unit"], c["ts"]), (r["sensor"], r["value"], r["unit"], r["ts"]))
        ranges = [x for m in self.batches.messages() for x in m.json()["ranges"]]
        covered = set()
        for x in ranges:
            covered |= set(range(x["first"], x["last"] + 1))
        self.assertEqual(covered, set(range(1, 11)))
        for m in self.device.messages(f"devices/{DEVICE}/ack"):
            self.assert_schema(m.payload, "ack")

    def test_a_resent_reading_is_stored_and_sent_once(self):
        self.start_stack()
        r = reading(1)
        self.device.publish(f"devices/{DEVICE}/readings", r)
        self.wait_ack(1)
        self.device.publish(f"devices/{DEVICE}/readings", r)
        self.device.publish(f"devices/{DEVICE}/readings", reading(2))
        self.wait_ack(2)
        wait_until(lambda: len(self.cloud_readings()) >= 2, 15, "2 readings in the cloud")
        health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        wait_until(lambda: any(m.json()["counters"]["duplicates"] >= 1 for m in health.messages()), 10,
                   "a health report counting the duplicate")
        self.assertEqual(sorted(x["seq"] for x in self.cloud_readings()), [1, 2])
        self.assert_schema(health.messages()[-1].payload, "health")

    def test_deadband_filters_and_the_batch_accounts_for_filtered_seqs(self):
        rules = [{"name": "temperature", "match": "*/temperature", "deadband": 0.5, "heartbeat": 600}]
        self.start_stack(rules=rules)
        values = [20.0, 20.1, 20.2, 20.6, 20.61, 21.2]  # kept: first, 20.6 (moved 0.6), 21.2
        for seq, v in enumerate(values, start=1):
            self.device.publish(f"devices/{DEVICE}/readings", reading(seq, value=v))
        self.wait_ack(6)
        wait_until(lambda: len(self.cloud_readings()) >= 3, 15, "the kept readings in the cloud")
        self.assertEqual([x["value"] for x in self.cloud_readings()], [20.0, 20.6, 21.2])
        covered = set()
        for m in self.batches.messages():
            for x in m.json()["ranges"]:
                covered |= set(range(x["first"], x["last"] + 1))
        self.assertEqual(covered, set(range(1, 7)))

    def test_malformed_input_is_rejected_with_a_reason_and_the_gateway_keeps_going(self):
        self.start_stack()
        rejects = self.collector(self.local, f"gateways/{self.pki.gateway_id}/rejects")
        self.device.publish(f"devices/{DEVICE}/readings", b"{not json")
        self.device.publish(f"devices/{DEVICE}/readings", {"sensor": "t", "value": "hot", "ts": time.time(), "boot": 7, "seq": 1})
        self.device.publish(f"devices/{DEVICE}/readings", reading(2))
        wait_until(lambda: len(rejects.messages()) >= 2, 10, "two rejects")
        reasons = [m.json()["reason"] for m in rejects.messages()]
        self.assertEqual(reasons, ["bad_json", "wrong_type"])
        for m in rejects.messages():
            self.assert_schema(m.payload, "reject")
        wait_until(lambda: [x["seq"] for x in self.cloud_readings()] == [2], 15, "the valid reading in the cloud")
        self.assertTrue(self.gateway.running)


class CloudAuthTest(GatewayCase):
    def assert_keeps_retrying(self):
        """The refusal is logged once (rate-limited), but the attempts go on: the broker sees them."""
        wait_until(lambda: self.cloud.log().count("New connection from") >= 3, 15,
                   "three connection attempts at the cloud broker")
        self.assertTrue(self.gateway.running)
        # One line per distinct reason (a TLS 1.3 refusal can surface as two), not one per attempt.
        lines = re.findall(r".*cannot connect.*", self.gateway.output())
        self.assertLessEqual(len(lines), 2, lines)

    def test_cloud_refuses_a_gateway_without_a_client_certificate(self):
        self.start_stack(sections={"cloud": {"cert_file": "", "key_file": ""}})
        self.gateway.wait_for_log(r"cloud broker .*cannot connect: the broker requires a client certificate", 15)
        self.assert_keeps_retrying()
        self.assertEqual(self.batches.messages(), [])

    def test_cloud_refuses_a_client_certificate_from_another_ca(self):
        self.start_stack(cloud_identity="bad/other-ca-client")
        self.gateway.wait_for_log(r"cloud broker .*cannot connect: the broker does not trust our client certificate", 15)
        self.device.publish(f"devices/{DEVICE}/readings", reading(1))
        self.wait_ack(1)  # stored locally even though the uplink is refused
        self.assert_keeps_retrying()
        self.assertEqual(self.batches.messages(), [])


class OutageTest(GatewayCase):
    def test_every_kept_reading_arrives_after_a_cloud_outage(self):
        self.start_stack()
        seq = 0

        def send(n):
            nonlocal seq
            for _ in range(n):
                seq += 1
                self.device.publish(f"devices/{DEVICE}/readings", reading(seq, value=seq))

        send(20)
        wait_until(lambda: len(self.cloud_readings()) >= 20, 15, "the first 20 readings")
        self.cloud.stop()
        send(50)
        self.wait_ack(seq)  # committed locally while the cloud is away
        self.cloud.restart()
        wait_until(lambda: {x["seq"] for x in self.cloud_readings()} >= set(range(1, seq + 1)), 30,
                   "every reading after the outage")


if __name__ == "__main__":
    unittest.main()
