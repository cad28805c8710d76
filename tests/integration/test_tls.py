#!/usr/bin/python3
"""The uplink's TLS: each bad certificate case is refused with one line saying which, and
credentials rotate without a restart (a bad set is refused and the old connection keeps working)."""

import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, make_pki, wait_until  # noqa: E402

DEVICE = "sensor-01"


def reading(seq):
    return {"sensor": "temperature", "value": 20 + seq, "unit": "C", "ts": time.time(), "boot": 3, "seq": seq}


class TlsCase(FogTestCase):
    def start(self, cloud_cert=None, sections=None, identity="gateway"):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud", server_cert=cloud_cert) if cloud_cert else self.start_broker("cloud")
        # The gateway's credentials are copies, so a test can rotate them in place.
        crt, key = self.pki.identity(identity)
        self.crt, self.key = self.work_dir / "gw.crt", self.work_dir / "gw.key"
        shutil.copy(crt, self.crt)
        shutil.copy(key, self.key)
        cloud = {"cert_file": str(self.crt), "key_file": str(self.key)}
        cloud.update((sections or {}).get("cloud", {}))
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", {"cloud": cloud})
        if cloud_cert is None:  # the test's own client trusts only a good broker certificate
            self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        self.gateway = fogstack.start_gateway(self, self.config)

    def refused_with(self, pattern):
        self.gateway.wait_for_log(r"cloud broker .*cannot connect: " + pattern, 15)
        self.assertTrue(self.gateway.running)

    def issue_cert(self, cn, days):
        """A new client certificate from the test CA, as an operator would rotate in."""
        key = self.work_dir / f"{cn}.key"
        csr = self.work_dir / f"{cn}.csr"
        crt = self.work_dir / f"{cn}.crt"
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        ext = self.work_dir / "ext.cnf"
        ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n")
        run("x509", "-req", "-in", str(csr), "-CA", str(self.pki.ca), "-CAkey", str(self.pki.dir / "ca.key"),
            "-CAcreateserial", "-days", str(days), "-out", str(crt), "-extfile", str(ext))
        return crt, key


class BadCertificatesTest(TlsCase):
    def test_broker_certificate_for_another_host(self):
        self.start(cloud_cert="bad/wrong-host-server")
        self.refused_with(r"the broker's certificate: IP address mismatch")

    def test_expired_broker_certificate(self):
        self.start(cloud_cert="bad/expired-server")
        self.refused_with(r"the broker's certificate: certificate has expired")

    def test_broker_certificate_from_an_unknown_ca(self):
        self.start(sections={"cloud": {"ca_file": str(self.pki.bad("other-ca")[0])}})
        self.refused_with(r"the broker's certificate: (unable to get local issuer certificate|self-signed certificate in certificate chain)")

    def test_expired_client_certificate(self):
        self.start(identity="bad/expired-client")
        self.gateway.wait_for_log(r"cloud TLS: client certificate .* certificate has expired", 10)
        self.refused_with(r".*certificate")

    def test_client_certificate_not_yet_valid(self):
        self.start(identity="bad/not-yet-valid-client")
        self.gateway.wait_for_log(r"cloud TLS: client certificate .* certificate is not yet valid", 10)
        self.refused_with(r".*certificate")

    def test_key_that_does_not_match_the_certificate_stops_start_up(self):
        self.start(identity="bad/mismatched")
        self.assertEqual(self.gateway.wait(10), 1)
        self.assertRegex(self.gateway.stderr(), r"^fogbridge: cloud TLS: key .* does not match certificate .*\n$")


class RotationTest(TlsCase):
    def send_and_expect(self, first, count):
        for seq in range(first, first + count):
            self.device.publish(f"devices/{DEVICE}/readings", reading(seq))
        want = set(range(1, first + count))
        wait_until(lambda: {r["seq"] for r in fogstack.batch_readings(self.batches.messages())} >= want, 20,
                   f"readings up to seq {first + count - 1} in the cloud")

    def test_rotation_to_a_new_valid_certificate_needs_no_restart(self):
        self.start()
        fogstack.wait_gateway_online(self, self.local)
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.send_and_expect(1, 5)
        crt, key = self.issue_cert("gw-01-rotated", 20)
        shutil.copy(key, self.key)
        shutil.copy(crt, self.crt)
        self.gateway.wait_for_log(r"certificate rotation: new credentials checked \(expire in (19|20) days\)", 15)
        self.cloud.wait_for_log(r"New client connected .* u'gw-01-rotated'", 15)
        self.send_and_expect(6, 5)
        pid = self.gateway.pid
        self.assertTrue(self.gateway.running)
        self.assertEqual(self.gateway.pid, pid)

    def test_rotation_to_a_bad_set_is_refused_and_the_old_connection_keeps_working(self):
        self.start()
        fogstack.wait_gateway_online(self, self.local)
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.send_and_expect(1, 5)
        mark = self.cloud.mark()
        shutil.copy(self.pki.bad("mismatched")[1], self.key)  # a key that does not fit the certificate
        self.gateway.wait_for_log(r"certificate rotation refused, keeping the current credentials: key .* does not match", 15)
        self.send_and_expect(6, 5)
        self.assertNotIn("New client connected", self.cloud.process.stderr()[mark[1]:])


class KeyPassphraseTest(FogTestCase):
    """The gateway's client key encrypted with a passphrase (make-certs.sh --encrypt-gateway-key),
    used on both links: it connects with the right passphrase, stops with one line naming the
    problem without it or with a wrong one, and the passphrase shows nowhere."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Random, so finding it anywhere means it leaked; never on a command line.
        cls.passphrase = "fog-" + secrets.token_hex(12)
        pass_file = cls.class_dir / "passphrase"
        pass_file.write_text(cls.passphrase + "\n")
        os.chmod(pass_file, 0o600)
        cls.pki = make_pki(cls.class_dir / "pki-encrypted", cls.devices, cls.gateway_id,
                           options=("--encrypt-gateway-key", pass_file))

    def start(self, passphrase, wait_online=True):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        crt, key = str(self.pki.dir / "gateway.crt"), str(self.pki.dir / "gateway.enc.key")
        self.assertIn(b"ENCRYPTED PRIVATE KEY", pathlib.Path(key).read_bytes())
        tls = {"cert_file": crt, "key_file": key, "key_passphrase": passphrase}
        self.config = fogstack.gateway_config(
            self.work_dir / "gw.toml", self.pki, self.local, self.cloud, self.work_dir / "q.db",
            {"gateway": {"log_level": "debug"}, "local": tls, "cloud": tls})
        self.gateway = fogstack.start_gateway(self, self.config)
        if wait_online:
            fogstack.wait_gateway_online(self, self.local)

    def assert_nowhere(self, secret):
        """Not in any file the test run left: logs of the gateway and brokers, the store, the health
        file, the brokers' persistence (every message they kept). Only the config holds it."""
        for path in sorted(self.work_dir.rglob("*")):
            if path.is_file() and path != self.config:
                self.assertNotIn(secret.encode(), path.read_bytes(), f"the passphrase is in {path}")

    def test_encrypted_key_with_the_right_passphrase_connects_both_links(self):
        self.start(self.passphrase)
        everything_local = self.collector(self.local, "#")
        everything_cloud = self.collector(self.cloud, "#")
        batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        device = self.client(self.local, f"devices/{DEVICE}")
        for seq in (1, 2, 3):
            device.publish(f"devices/{DEVICE}/readings", reading(seq))
        device.publish(f"devices/{DEVICE}/health", {"battery": 3.9})
        wait_until(lambda: {r["seq"] for r in fogstack.batch_readings(batches.messages())} >= {1, 2, 3}, 20,
                   "readings 1..3 in the cloud")
        everything_cloud.wait_for_message(f"fogbridge/+/devices/{DEVICE}/health")
        everything_cloud.wait_for_message("fogbridge/+/health")
        check = subprocess.run([str(fogstack.fogtest.executable(fogstack.GATEWAY)), "--config",
                                str(self.config), "--check-config"], capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.gateway.stop()
        self.assertEqual(self.gateway.returncode, 0)
        for m in everything_local.messages() + everything_cloud.messages():
            self.assertNotIn(self.passphrase.encode(), m.topic.encode() + m.payload, m.topic)
        self.assertNotIn(self.passphrase.encode(), check.stdout + check.stderr)
        self.assert_nowhere(self.passphrase)

    def test_a_wrong_passphrase_stops_start_up_with_one_line(self):
        wrong = "fog-" + secrets.token_hex(12)
        self.start(wrong, wait_online=False)
        self.assertEqual(self.gateway.wait(10), 1)
        self.assertRegex(self.gateway.stderr(),
                         r"^fogbridge: cloud TLS: key \S+gateway\.enc\.key cannot be decrypted: "
                         r"wrong key_passphrase\n$")
        self.assert_nowhere(wrong)
        self.assert_nowhere(self.passphrase)

    def test_an_encrypted_key_without_a_passphrase_stops_start_up_with_one_line(self):
        # No terminal prompt either: the gateway runs without one and must not wait for input.
        self.start("", wait_online=False)
        self.assertEqual(self.gateway.wait(10), 1)
        self.assertRegex(self.gateway.stderr(),
                         r"^fogbridge: cloud TLS: key \S+gateway\.enc\.key is encrypted and no "
                         r"key_passphrase is configured\n$")
        self.assert_nowhere(self.passphrase)


if __name__ == "__main__":
    unittest.main()
