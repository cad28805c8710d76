#!/usr/bin/python3
"""The device SDK's MQTT client (the portable core's, over TCP/TLS on Linux) against a real
Mosquitto: an idle board keeps its link with PINGREQs, and a broker certificate that does not name
the host, or comes from a CA the board does not trust, is refused with one line saying why."""

import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, executable  # noqa: E402

DEVICE = "sensor-01"


class SdkMqttTest(FogTestCase):
    def test_an_idle_board_keeps_its_link_with_pings(self):
        broker = self.start_broker("local", verbose=True)
        # One reading at the start, then nothing to send for a long while: only PINGREQs keep
        # the link. Mosquitto drops a client silent for 1.5 keepalives (7.5 s here).
        board = fogstack.start_sensor(self, broker, DEVICE, "--keepalive", 5, "--rate", 0.01,
                                      "--health-interval", 0)
        board.wait_for_log(r"connected to ", 10)
        for _ in range(4):  # one every 2.5 s: 10 s in all, longer than the broker's 7.5 s limit
            mark = broker.process.mark()
            broker.wait_for_log(rf"Received PINGREQ from {DEVICE}", 5, since=mark)
        log = broker.process.output()
        self.assertGreaterEqual(log.count(f"Received PINGREQ from {DEVICE}"), 4)
        self.assertGreaterEqual(log.count(f"Sending PINGRESP to {DEVICE}"), 3)
        self.assertNotRegex(log, r"exceeded timeout")
        self.assertNotRegex(board.output(), r"connection lost|retrying")
        self.assertTrue(board.running)

    def assert_refused(self, board, pattern):
        board.wait_for_log(r"connect failed: TLS: the broker's certificate: " + pattern +
                           r" \(127\.0\.0\.1:\d+\); retrying in \d+ ms", 10)
        self.assertNotRegex(board.output(), r"connected to ")

    def test_a_broker_certificate_for_another_host_is_refused(self):
        broker = self.start_broker("local", server_cert="bad/wrong-host-server")
        self.assert_refused(fogstack.start_sensor(self, broker, DEVICE), r"IP address mismatch")

    def test_a_broker_certificate_from_an_untrusted_ca_is_refused(self):
        broker = self.start_broker("local")
        crt, key = self.pki.device(DEVICE)
        other_ca = self.pki.bad("other-ca")[0]  # a CA that did not sign the broker's certificate
        cmd = [executable(fogstack.SENSOR), "--id", DEVICE, "--host", broker.host,
               "--port", broker.port, "--ca", other_ca, "--cert", crt, "--key", key]
        board = self.start_process(cmd, name="sensor-untrusted-ca")
        self.assert_refused(board, r"(unable to get local issuer certificate|self-signed "
                                   r"certificate in certificate chain)")


if __name__ == "__main__":
    unittest.main()
