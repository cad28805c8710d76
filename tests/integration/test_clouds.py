#!/usr/bin/python3
"""Cloud profiles against local stand-ins (tests/support/cloud_standins.py, docs/clouds.md): for
each profile a Mosquitto with the cloud's size limit, topic ACL, retain and protocol rules; boards
stream through the gateway with `cloud.profile` set, and the audit finds nothing missing. Also:
--check-config refuses what a cloud would reject, naming key and rule, and the stand-ins enforce
what they claim."""

import importlib.machinery
import json
import pathlib
import re
import subprocess
import sys
import time
import unittest

import paho.mqtt.client as mqtt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import cloud_standins  # noqa: E402
import fogstack  # noqa: E402
import fogtest  # noqa: E402
from fogtest import REPO_ROOT, FogTestCase, scaled, wait_until  # noqa: E402

audit_tool = importlib.machinery.SourceFileLoader(
    "fogbridge_audit", str(REPO_ROOT / "tools" / "fogbridge-audit")).load_module()

BOARDS = ["sensor-01", "sensor-02"]
SUMMARY = re.compile(r"fogbridge-sensor: id=(\S+) boot=(\d+) published=(\d+) recovered=(\d+) acked=(\d+)")


class CheckConfigTest(FogTestCase):
    """--check-config runs before any connection: these need no broker."""

    def check(self, cloud):
        local = fogtest.Broker("local-plain", self.work_dir)  # only its address goes in the file
        conf = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, local, local,
                                       self.work_dir / "q.db", {"cloud": cloud})
        return subprocess.run([str(fogtest.executable(fogstack.GATEWAY)), "--check-config", "--config",
                               str(conf)], capture_output=True, text=True, timeout=scaled(30))

    def test_refusals_name_key_and_rule(self):
        cases = [
            ({"profile": "aws-iot-core", "keepalive": 10}, "cloud.keepalive = 10: aws-iot-core allows 30-1200 s"),
            ({"profile": "aws-iot-core", "max_message_bytes": 262144},
             "cloud.max_message_bytes = 262144: aws-iot-core takes 1024 to 131072 payload bytes"),
            ({"profile": "azure-iot-hub", "mqtt_version": "5"},
             "cloud.mqtt_version = \"5\": azure-iot-hub speaks MQTT 3.1.1 only"),
            ({"profile": "azure-iot-hub", "retain": "true"},
             "cloud.retain = \"true\": azure-iot-hub keeps no retained messages"),
            ({"profile": "azure-event-grid", "window": 1001},
             "cloud.window = 1001: azure-event-grid allows at most 1000 unacknowledged publishes"),
            ({"profile": "cumulus"}, "cloud.profile: \"cumulus\" is not one of"),
        ]
        for cloud, line in cases:
            with self.subTest(cloud=cloud):
                r = self.check(cloud)
                self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn(line, r.stderr)

    def test_every_profile_passes_with_its_defaults(self):
        for profile in cloud_standins.PROFILES:
            with self.subTest(profile=profile):
                r = self.check({"profile": profile})
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class StandInTest(FogTestCase):
    """The stand-ins enforce what they claim, so a passing profile test means something."""

    def test_azure_iot_hub_standin(self):
        hub = cloud_standins.StandIn(self, "azure-iot-hub")
        target = (hub.host, hub.port)
        kw = {"tls": True, "ca": self.pki.ca, "verify_hostname": False}
        cert, key = self.pki.identity("gateway")
        with self.assertRaises(fogtest.ConnectFailed):
            fogtest.Client(target, cert=cert, key=key, protocol=mqtt.MQTTv5, client_id="gw-01",
                           **kw).connect(timeout=5)
        wait_until(lambda: hub.front.refused() == 1, 5, "the front to refuse MQTT 5")
        watcher = self.collector(hub.broker, "devices/#")
        c = self.client(target, cert=cert, key=key, client_id="gw-01", **kw)
        c.publish("devices/gw-01/messages/events/stream=batch", b"ok")
        watcher.wait_for(1, 10, what="the message on the fixed topic")
        # The ACL: another device's topic and the plain form are dropped (MQTT 3.1.1: no error).
        c.publish("devices/other/messages/events/", b"no")
        c.publish("fogbridge/gw-01/batch", b"no")
        c.publish("devices/gw-01/messages/events/stream=gaps", b"ok")
        watcher.wait_for(2, 10, what="the second allowed message")
        self.assertEqual([m.payload for m in watcher.messages()], [b"ok", b"ok"])
        # No retained messages: a retained PUBLISH ends the connection.
        before = c.connects
        c.publish("devices/gw-01/messages/events/stream=status", b"online", retain=True, wait=False)
        wait_until(lambda: c.connects > before, 10, "the broker to end the connection")

    def test_aws_iot_core_size_limit(self):
        aws = cloud_standins.StandIn(self, "aws-iot-core")
        watcher = self.collector(aws.broker, "fogbridge/#")
        c = self.client(aws.broker, "gateway", client_id="gw-01")
        c.publish("fogbridge/gw-01/batch", b"x" * 131072)
        watcher.wait_for(1, 10, what="128 KB at the cloud")
        before = c.connects
        c.publish("fogbridge/gw-01/batch", b"x" * (131072 + 2048), wait=False)
        wait_until(lambda: c.connects > before, 10, "the broker to end the connection")
        self.assertEqual(len(watcher.messages()), 1)


class CloudProfileTest(FogTestCase):
    def run_profile(self, profile, compression="none", readings=150, cloud=None, batch=None, rate=25):
        standin = cloud_standins.StandIn(self, profile)
        self.local = self.start_broker("local")
        topics = (["devices/+/messages/events/#"] if profile == "azure-iot-hub"
                  else ["fogbridge/+/batch", "fogbridge/+/gaps"])
        received = self.collector(standin.broker, topics, clean_session=False)
        health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        cloud = {"profile": profile, "compression": compression, "port": standin.port, **(cloud or {})}
        sections = {"cloud": cloud, "gateway": {"health_interval": 0.5}, "batch": batch or {}}
        conf = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, standin.broker,
                                       self.work_dir / "q.db", sections)
        fogstack.start_gateway(self, conf)
        fogstack.wait_gateway_online(self, self.local)
        boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", rate,
                                        "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                  for i, b in enumerate(BOARDS, start=1)]

        def delivered():
            return sum(len(fogtest.batch_rows(json.loads(r["payload"])))
                       for r in cloud_standins.audit_records(received.messages()) if r["topic"].endswith("/batch"))
        wait_until(lambda: delivered() >= readings, 30, f"{readings} readings at the {profile} stand-in")
        report = self.finish_and_audit(boards, received, health)
        if compression == "zstd":
            raw = [m.payload for m in received.messages() if cloud_standins.stream_of(m.topic) == "batch"]
            self.assertTrue(all(p[:4] == cloud_standins.ZSTD_MAGIC for p in raw), "a batch went uncompressed")
        return report

    def finish_and_audit(self, boards, received, health):
        sent = set()
        for b in boards:
            b.stop(timeout=90)
            m = SUMMARY.search(b.stdout())
            self.assertIsNotNone(m, b.output()[-2000:])
            sent |= {(m.group(1), int(m.group(2)), seq) for seq in range(1, int(m.group(3)) + 1)}
        stopped = time.time()

        def drained():
            fresh = [h for h in (m.json() for m in health.messages()) if h["ts"] > stopped]
            return fresh and fresh[-1]["queue"]["readings"] == 0 and fresh[-1]["queue"]["leased_batches"] == 0
        wait_until(drained, 60, "an empty queue")

        def audited():
            return audit_tool.audit(sent, cloud_standins.audit_records(received.messages()))
        try:  # the last PUBACKed batch may reach the collector a moment after the queue empties
            wait_until(lambda: audited()["missing"] == 0, 10, "the last batches at the collector")
        except AssertionError:
            pass
        report = audited()
        print(f"\n{self.id()}: {json.dumps(report)}", file=sys.stderr)
        self.assertEqual(report["missing"], 0, report)
        self.assertEqual(report["duplicates_with_new_batch_id"], 0, report)
        self.assertGreater(report["delivered"], 0)
        return report

    def test_generic(self):
        self.run_profile("generic", "zstd")

    def test_aws_iot_core(self):
        self.run_profile("aws-iot-core", "zstd")

    def test_aws_iot_core_without_mqtt5(self):
        # No Maximum Packet Size from the broker: batches must stay below cloud.max_message_bytes
        # (128 KB) by themselves, though batch.max_bytes (256 KiB) and the readings waiting allow more.
        self.run_profile("aws-iot-core", readings=3000, cloud={"mqtt_version": "3.1.1"},
                         batch={"max_delay": 4, "max_readings": 10000}, rate=250)

    def test_azure_iot_hub(self):
        # MQTT 3.1.1 only: the cloud tells a zstd batch from its bytes (docs/batch-format.md).
        self.run_profile("azure-iot-hub", "zstd")

    def test_azure_event_grid(self):
        self.run_profile("azure-event-grid", "zstd")

    def test_hivemq(self):
        self.run_profile("hivemq", "zstd")

    def test_emqx(self):
        self.run_profile("emqx", "zstd")


if __name__ == "__main__":
    unittest.main()
