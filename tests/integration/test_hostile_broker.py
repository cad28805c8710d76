#!/usr/bin/python3
"""What the local broker (mutual TLS + ACL) stops before the gateway sees it: topics with
wildcards or invalid UTF-8 and packets over max_packet_size (the broker drops the connection),
and device identities (certificate CNs) with characters a device id may not have, which the
gateway rejects as bad_id or never reads. Hostile payloads are test_hostile."""

import pathlib
import re
import socket
import ssl
import struct
import subprocess
import sys
import tomllib
import unittest
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import MOSQUITTO_TEMPLATES, REPO_ROOT, scaled, wait_until  # noqa: E402
from hostile_stack import DEVICE, RAW, GatewayStack, dumps, valid  # noqa: E402


def make_device_cert(pki, common_name, name):
    """A client certificate from the device CA with any CN (make-certs.sh only makes valid ids)."""
    out = pki.dir / "odd"
    out.mkdir(exist_ok=True)
    key, csr, crt = out / f"{name}.key", out / f"{name}.csr", out / f"{name}.crt"
    if crt.exists():
        return str(crt), str(key)
    subject = "/CN=" + common_name.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")
    ext = out / "client.ext"
    ext.write_text("basicConstraints = critical, CA:FALSE\nextendedKeyUsage = clientAuth\n")
    for cmd in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-utf8", "-subj", subject],
                ["x509", "-req", "-in", csr, "-CA", pki.device_ca, "-CAkey", pki.dir / "device-ca.key",
                 "-set_serial", str(uuid.uuid4().int >> 64), "-days", "2", "-extfile", ext, "-out", crt]):
        done = subprocess.run(["openssl", *map(str, cmd)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {cmd[0]} failed for CN {common_name!r}: {done.stderr.strip()}")
    return str(crt), str(key)


class RawMqtt:
    """Just enough MQTT 3.1.1 over TLS to send what client libraries refuse to send."""

    def __init__(self, broker, cert, key):
        ctx = ssl.create_default_context(cafile=broker.pki.ca)
        ctx.load_cert_chain(cert, key)
        sock = socket.create_connection((broker.host, broker.port), timeout=scaled(10))
        self.sock = ctx.wrap_socket(sock, server_hostname="localhost")

    @staticmethod
    def _packet(header, body):
        n, length = len(body), b""
        while True:
            n, digit = n >> 7, n & 0x7F
            length += bytes([digit | (0x80 if n else 0)])
            if not n:
                return bytes([header]) + length + body

    @staticmethod
    def _text(b):
        return struct.pack("!H", len(b)) + b

    def connect(self):
        body = self._text(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 30) + self._text(uuid.uuid4().hex.encode())
        self.sock.sendall(self._packet(0x10, body))
        return self.sock.recv(4)  # CONNACK: 20 02 00 00 on success

    def publish_qos1(self, topic, payload, mid=1):
        """Sends a PUBLISH; False when the broker closed the connection before it was all sent."""
        try:
            self.sock.sendall(self._packet(0x32, self._text(topic) + struct.pack("!H", mid) + payload))
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return False

    def closed_by_peer(self):
        """True when the broker closed the connection (instead of sending anything, a PUBACK say)."""
        try:
            return self.sock.recv(16) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class BrokerBlocksTest(GatewayStack):
    def sync(self, client):
        """A SUBACK round trip: whatever the broker queued for client before is in by its return."""
        client.subscribe(f"fogtest/sync/{uuid.uuid4().hex}")

    def test_device_ids_the_broker_lets_through_are_rejected_by_the_gateway_as_bad_id(self):
        # A CN is any string the CA signed; the ACL's pattern puts it into the topic as it is.
        self.start_stack()
        for n, cn in enumerate(["bad id", "s\u00e9nsor", "sensor$01"]):
            crt, key = make_device_cert(self.pki, cn, f"odd-{n}")
            odd = self.client(self.local, cert=crt, key=key)
            odd.publish(f"devices/{cn}/readings", valid(1))
        self.publish("readings", valid(1))
        self.wait_ack(1)
        wait_until(lambda: len(self.rejects.messages()) >= 3, 10, "3 rejects")
        got = sorted((r["reason"], r["topic"], "device" in r) for _, r in self.reject_messages())
        self.assertEqual(got, sorted(("bad_id", f"devices/{cn}/readings", False)
                                     for cn in ["bad id", "s\u00e9nsor", "sensor$01"]))
        self.wait_health(lambda c: c["rejected"] == {"bad_id": 3}, "3 bad_id")
        wait_until(lambda: len(self.cloud_readings()) == 1, 15, "the valid reading in the cloud")
        self.assertEqual([r["device"] for r in fogstack.batch_readings(self.batches.messages())], [DEVICE])

    def test_a_cn_with_a_slash_publishes_below_its_own_id_which_the_gateway_never_reads(self):
        # "sensor-01/x" may write devices/sensor-01/x/readings: one level too deep for the gateway's
        # devices/+/readings, so it can neither reach the gateway nor pass for sensor-01.
        self.start_stack()
        watcher = self.collector(self.local, "devices/#")
        crt, key = make_device_cert(self.pki, f"{DEVICE}/x", "odd-slash")
        odd = self.client(self.local, cert=crt, key=key)
        odd.publish(f"devices/{DEVICE}/x/readings", valid(1, value=666.0))
        watcher.wait_for_message(f"devices/{DEVICE}/x/readings")  # the broker took it
        self.publish("readings", valid(1))
        self.wait_ack(1)  # the gateway has passed the point where it would have seen it
        wait_until(lambda: len(self.cloud_readings()) == 1, 15, "the valid reading in the cloud")
        self.assertEqual([r["value"] for r in self.cloud_readings()], [valid(1)["value"]])
        self.assertEqual(self.rejects.messages(), [])

    def test_a_cn_with_wildcards_cannot_read_other_devices_acks(self):
        # The ACL's "pattern read devices/%u/ack" would read every ack for CN "+"; Mosquitto refuses
        # pattern rules for user names with + or # (CVE-2017-7650). It grants the SUBACK but
        # delivers nothing.
        self.start_stack()
        spies = []
        for n, cn in enumerate(["+", "#"]):
            crt, key = make_device_cert(self.pki, cn, f"odd-wild-{n}")
            spy = self.client(self.local, cert=crt, key=key)
            spy.subscribe(["devices/+/ack", "#"])  # "devices/+/ack" is the pattern's own topic for "+"
            spies.append(spy)
        self.publish("readings", valid(1))
        self.wait_ack(1)
        for spy in spies:
            self.sync(spy)
            self.assertEqual(spy.messages(), [])

    def test_the_broker_drops_a_connection_that_publishes_to_a_wildcard_or_non_utf8_topic(self):
        # Client libraries refuse these topics; a hostile board need not use one.
        self.start_stack()
        crt, key = self.pki.device(RAW)
        watcher = self.collector(self.local, "devices/#")
        for topic in [b"devices/+/readings", b"devices/#", f"devices/{RAW}/readings\xff".encode("latin-1"),
                      f"devices/{RAW}/readings\x00".encode()]:
            conn = RawMqtt(self.local, crt, key)
            try:
                self.assertEqual(conn.connect(), b"\x20\x02\x00\x00")
                conn.publish_qos1(topic, dumps(valid(1)))
                self.assertTrue(conn.closed_by_peer(), f"the broker kept the connection after {topic!r}")
            finally:
                conn.close()
        self.publish("readings", valid(1))
        self.wait_ack(1)
        self.sync(watcher)
        self.assertEqual([m.topic for m in watcher.messages()],
                         [f"devices/{DEVICE}/readings", f"devices/{DEVICE}/ack"])
        self.assertEqual(self.rejects.messages(), [])

    def test_the_broker_refuses_a_packet_over_max_packet_size_before_anyone_sees_it(self):
        # local.conf.in: max_packet_size = validate.max_payload_bytes (65536) + 1024.
        self.start_stack()
        crt, key = self.pki.device(RAW)
        watcher = self.collector(self.local, "devices/#")
        topic = f"devices/{RAW}/readings".encode()
        for size in (70000, 1 << 20):
            conn = RawMqtt(self.local, crt, key)
            try:
                self.assertEqual(conn.connect(), b"\x20\x02\x00\x00")
                conn.publish_qos1(topic, dumps(valid(1, value=666.0))[:-1] + b',"pad":"' + b"x" * size + b'"}')
                self.assertTrue(conn.closed_by_peer(), f"the broker kept the connection after {size} bytes")
            finally:
                conn.close()
        self.publish("readings", valid(1))
        self.wait_ack(1)
        self.sync(watcher)
        self.assertEqual([m.topic for m in watcher.messages()],
                         [f"devices/{DEVICE}/readings", f"devices/{DEVICE}/ack"])
        self.assertEqual(self.rejects.messages(), [])
        wait_until(lambda: len(self.cloud_readings()) == 1, 15, "the valid reading in the cloud")
        self.assertEqual([r["value"] for r in self.cloud_readings()], [valid(1)["value"]])

    def test_the_brokers_packet_limit_matches_the_gateways_payload_limit(self):
        example = tomllib.loads((REPO_ROOT / "gateway/config/fogbridge.example.toml").read_text())
        payload_limit = example["validate"]["max_payload_bytes"]
        for template in ("local.conf.in", "local-plain.conf.in"):
            text = (MOSQUITTO_TEMPLATES / template).read_text()
            found = re.findall(r"^max_packet_size (\d+)$", text, re.M)
            self.assertEqual(found, [str(payload_limit + 1024)], template)


if __name__ == "__main__":
    unittest.main()
