#!/usr/bin/python3
"""Device identity on the local broker: each device (client certificate CN) writes only under
devices/<own id>/ and reads only its own ack (deploy/mosquitto/local-acl.in), anonymous and
foreign-CA clients cannot connect, and the gateway rejects a payload that claims another device."""

import pathlib
import sys
import time
import unittest
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import Client, ConnectFailed, FogTestCase, wait_until  # noqa: E402

A = "sensor-01"
B = "sensor-02"


def reading(seq, value, device=None, boot=7):
    r = {"sensor": "temperature", "value": value, "unit": "C", "ts": time.time(), "boot": boot, "seq": seq}
    if device is not None:
        r["device"] = device
    return r


class AclCase(FogTestCase):
    def start_stack(self):
        # Verbose: Mosquitto logs each refused publish ("Denied PUBLISH") only at debug level.
        self.local = self.start_broker("local", verbose=True)
        self.cloud = self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gateway.toml", self.pki, self.local,
                                              self.cloud, self.work_dir / "queue.db")
        self.upstream = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/alerts"], clean_session=False)
        self.rejects = self.collector(self.local, f"gateways/{self.pki.gateway_id}/rejects")
        self.watcher = self.collector(self.local, "devices/#")
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)
        self.a = self.device(A)
        self.b = self.device(B)

    def device(self, device_id):
        c = self.client(self.local, f"devices/{device_id}")
        c.subscribe(f"devices/{device_id}/ack")
        return c

    def wait_ack(self, client, device, seq, boot=7):
        want = {"boot": boot, "seq": seq}
        wait_until(lambda: any(m.json() == want for m in client.messages(f"devices/{device}/ack")), 15,
                   f"the ack {want} for {device}")

    def cloud_readings(self, device):
        batches = self.upstream.messages("fogbridge/+/batch")
        return [r for r in fogstack.batch_readings(batches) if r["device"] == device]

    def wait_denied(self, client, topic, since):
        self.local.wait_for_log(rf"Denied PUBLISH from {client.broker_id} \(.*'{topic}'", 10, since=since)

    def sync(self, client):
        """A SUBACK round trip: whatever the broker queued for client before is in by its return."""
        client.subscribe(f"fogtest/sync/{uuid.uuid4().hex}")


class DeviceIdentityTest(AclCase):
    def test_a_device_cannot_publish_as_another_device(self):
        self.start_stack()
        mark = self.local.mark()
        forged = reading(1, 666.0)
        for kind in ["readings", "alerts", "health"]:
            self.a.publish(f"devices/{B}/{kind}", forged)
        self.a.publish(f"devices/{B}/status", "offline", retain=True)
        for kind in ["readings", "alerts", "health", "status"]:
            self.wait_denied(self.a, f"devices/{B}/{kind}", mark)
        # Each device's own reading goes through; the forged ones were published first.
        self.a.publish(f"devices/{A}/readings", reading(1, 20.0))
        self.b.publish(f"devices/{B}/readings", reading(1, 30.0))
        self.wait_ack(self.a, A, 1)
        self.wait_ack(self.b, B, 1)
        wait_until(lambda: self.cloud_readings(A) and self.cloud_readings(B), 15, "both readings in the cloud")
        self.assertEqual([r["value"] for r in self.cloud_readings(A)], [20.0])
        self.assertEqual([r["value"] for r in self.cloud_readings(B)], [30.0])
        self.assertEqual(self.upstream.messages("fogbridge/+/alerts"), [])
        self.assertEqual(self.rejects.messages(), [])
        self.sync(self.watcher)
        self.assertEqual([m.topic for m in self.watcher.messages(f"devices/{B}/#")
                          if not m.topic.endswith("/ack")], [f"devices/{B}/readings"])
        retained = self.collector(self.local, f"devices/{B}/status")
        self.sync(retained)
        self.assertEqual(retained.messages(), [])

    def test_a_device_cannot_forge_acks_or_gateway_messages(self):
        self.start_stack()
        gw = self.pki.gateway_id
        mark = self.local.mark()
        self.a.publish(f"devices/{B}/ack", {"boot": 7, "seq": 1000})
        self.a.publish(f"gateways/{gw}/status", "offline", retain=True)
        self.a.publish(f"gateways/{gw}/rejects", {"reason": "bad_json", "detail": "", "topic": "", "ts": 0})
        for topic in [f"devices/{B}/ack", f"gateways/{gw}/status", f"gateways/{gw}/rejects"]:
            self.wait_denied(self.a, topic, mark)
        self.b.publish(f"devices/{B}/readings", reading(1, 30.0))
        self.wait_ack(self.b, B, 1)
        self.assertEqual([m.json() for m in self.b.messages(f"devices/{B}/ack")], [{"boot": 7, "seq": 1}])
        self.assertEqual(self.rejects.messages(), [])
        status = self.collector(self.local, f"gateways/{gw}/status")
        status.wait_for(1)
        self.sync(status)
        self.assertEqual([m.payload for m in status.messages()], [b"online"])

    def test_a_device_cannot_read_another_devices_ack_or_topics(self):
        # Mosquitto 2.0 may grant the subscription; it then checks read access on each delivery.
        self.start_stack()
        for topic in [f"devices/{A}/ack", "devices/+/ack", f"devices/{A}/readings", "gateways/#", "#"]:
            try:
                self.b.subscribe(topic)
            except AssertionError:
                pass  # refused outright is as good
        self.a.publish(f"devices/{A}/readings", reading(1, 20.0))
        self.wait_ack(self.a, A, 1)
        # B's own ack is acknowledged after A's, on the same connection to B.
        self.b.publish(f"devices/{B}/readings", reading(1, 30.0))
        self.wait_ack(self.b, B, 1)
        self.sync(self.b)
        self.assertEqual({m.topic for m in self.b.messages()}, {f"devices/{B}/ack"})

    def test_a_payload_that_claims_another_device_is_rejected_as_device_mismatch(self):
        self.start_stack()
        self.a.publish(f"devices/{A}/readings", reading(1, 666.0, device=B))
        self.a.publish(f"devices/{A}/alerts", reading(2, 667.0, device=B))
        self.a.publish(f"devices/{A}/readings", reading(2, 20.0, device=A))  # naming itself is fine
        # The rejected reading counts as processed, so the acknowledged mark moves past it.
        self.wait_ack(self.a, A, 2)
        wait_until(lambda: len(self.rejects.messages()) >= 2, 10, "2 rejects")
        rejects = [self.assert_schema(m.payload, "reject") for m in self.rejects.messages()]
        self.assertEqual([(r["reason"], r["topic"], r["device"]) for r in rejects],
                         [("device_mismatch", f"devices/{A}/readings", A),
                          ("device_mismatch", f"devices/{A}/alerts", A)])
        wait_until(lambda: self.cloud_readings(A), 15, "the valid reading in the cloud")
        self.assertEqual([(r["seq"], r["value"]) for r in self.cloud_readings(A)], [(2, 20.0)])
        self.assertEqual(self.cloud_readings(B), [])
        self.assertEqual(self.upstream.messages("fogbridge/+/alerts"), [])
        health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        health.wait_for(lambda msgs: msgs and msgs[-1].json()["counters"]["rejected"] == {"device_mismatch": 2},
                        10, what="2 device_mismatch in the health report")


class ConnectTest(FogTestCase):
    def test_anonymous_and_foreign_clients_cannot_connect(self):
        local = self.start_broker("local")
        cases = {
            "no client certificate": lambda: Client(local),
            "a certificate from another CA": lambda: Client(local, "bad/other-ca-client"),
            "an expired certificate": lambda: Client(local, "bad/expired-client"),
            "plain TCP": lambda: Client((local.host, local.port), tls=False),
        }
        for what, make in cases.items():
            with self.subTest(what):
                client = make()
                self.addCleanup(client.close)
                with self.assertRaises(ConnectFailed):
                    client.connect(timeout=5)
        self.assertIsNotNone(self.client(local, f"devices/{A}"))  # and a good one can


if __name__ == "__main__":
    unittest.main()
