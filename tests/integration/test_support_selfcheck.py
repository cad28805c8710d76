#!/usr/bin/python3
"""Self-check of the integration test harness (tests/support/fogtest.py), the development PKI
(certs/make-certs.sh) and the shipped Mosquitto configurations (deploy/mosquitto/)."""

import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogtest  # noqa: E402
from fogtest import Client, Collector, ConnectFailed, FogTestCase  # noqa: E402


def reading(seq, sensor="temperature", value=21.5, boot=7):
    return {"sensor": sensor, "value": value, "unit": "C", "ts": 1732630000.0 + seq, "boot": boot, "seq": seq}


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


class PkiTest(FogTestCase):
    def test_good_certificates_verify_against_their_own_ca_only(self):
        services = ["local-broker", "cloud-broker", "gateway", "observer"]
        devices = [f"devices/{d}" for d in self.devices]
        for names, ca, other in [(services, self.pki.service_ca, self.pki.device_ca),
                                 (devices, self.pki.device_ca, self.pki.service_ca)]:
            for name in names:
                crt, _ = self.pki.identity(name)
                self.assertEqual(openssl("verify", "-CAfile", ca, crt).returncode, 0, name)
                self.assertNotEqual(openssl("verify", "-CAfile", other, crt).returncode, 0, name)
        # The negative-test certificates come from neither CA; the test trust adds their own.
        crt, _ = self.pki.bad("wrong-host-server")
        self.assertEqual(openssl("verify", "-CAfile", self.pki.ca, crt).returncode, 0)
        for name in ["expired-client", "not-yet-valid-client", "wrong-host-server", "expired-server"]:
            crt, _ = self.pki.bad(name)
            for ca in [self.pki.service_ca, self.pki.device_ca]:
                done = openssl("verify", "-no_check_time", "-CAfile", ca, crt)
                self.assertNotEqual(done.returncode, 0, f"{name} against {ca}")

    def test_common_names_and_server_names(self):
        def subject(name):
            crt, _ = self.pki.identity(name)
            return openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253").stdout.strip()

        self.assertEqual(subject("gateway"), f"subject=CN={self.gateway_id}")
        self.assertEqual(subject("devices/sensor-02"), "subject=CN=sensor-02")
        for server in ["local-broker", "cloud-broker"]:
            crt, _ = self.pki.identity(server)
            for flag, value in [("-verify_hostname", "localhost"), ("-verify_ip", "127.0.0.1"), ("-verify_ip", "::1")]:
                done = openssl("verify", "-CAfile", self.pki.ca, flag, value, crt)
                self.assertEqual(done.returncode, 0, f"{server} {value}: {done.stdout}{done.stderr}")
        wrong, _ = self.pki.bad("wrong-host-server")
        self.assertNotEqual(openssl("verify", "-CAfile", self.pki.ca, "-verify_hostname", "localhost", wrong).returncode, 0)

    def test_bad_certificates_are_bad_in_the_stated_way(self):
        expired, _ = self.pki.bad("expired-client")
        expired_server, _ = self.pki.bad("expired-server")
        future, _ = self.pki.bad("not-yet-valid-client")
        for crt in [expired, expired_server]:
            # -checkend 0 fails for a certificate that has expired; verify fails too.
            self.assertEqual(openssl("x509", "-in", crt, "-noout", "-checkend", "0").returncode, 1)
            self.assertIn("certificate has expired", openssl("verify", "-CAfile", self.pki.ca, crt).stdout
                          + openssl("verify", "-CAfile", self.pki.ca, crt).stderr)
        done = openssl("verify", "-CAfile", self.pki.ca, future)
        self.assertIn("certificate is not yet valid", done.stdout + done.stderr)
        other_client, _ = self.pki.bad("other-ca-client")
        other_ca, _ = self.pki.bad("other-ca")
        self.assertNotEqual(openssl("verify", "-CAfile", self.pki.ca, other_client).returncode, 0)
        self.assertEqual(openssl("verify", "-CAfile", other_ca, other_client).returncode, 0)
        crt, key = self.pki.bad("mismatched")
        cert_pub = openssl("x509", "-in", crt, "-noout", "-pubkey").stdout
        key_pub = openssl("pkey", "-in", key, "-pubout").stdout
        self.assertTrue(cert_pub.startswith("-----BEGIN PUBLIC KEY-----"))
        self.assertNotEqual(cert_pub, key_pub)
        self.assertEqual(cert_pub, openssl("x509", "-in", self.pki.gateway[0], "-noout", "-pubkey").stdout)

    def test_private_keys_and_directories_are_private(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.pki.dir).st_mode), 0o700)
        keys = [k for d in ["", "devices", "bad", "ca-db/service", "ca-db/device"] for k in (self.pki.dir / d).glob("*.key")]
        self.assertEqual(len(keys), 6 + len(self.devices) + 8 + 2)
        for key in keys:
            self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600, key)

    def test_refuses_to_overwrite_unless_forced(self):
        out = self.work_dir / "pki"
        run = lambda *a: subprocess.run([str(fogtest.MAKE_CERTS), "--out", str(out), "--devices", "d1", *a],  # noqa: E731
                                        capture_output=True, text=True)
        first = run()
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(len(first.stdout.strip().splitlines()), 1)
        ca_before = (out / "ca.crt").read_bytes()
        again = run()
        self.assertEqual(again.returncode, 2)
        self.assertEqual(len(again.stderr.strip().splitlines()), 1)
        self.assertIn("refusing to overwrite", again.stderr)
        self.assertEqual(run("--if-missing").returncode, 0)
        self.assertEqual((out / "ca.crt").read_bytes(), ca_before)
        forced = run("--force")
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertNotEqual((out / "ca.crt").read_bytes(), ca_before)
        self.assertEqual(run("--devices", "no/slash").returncode, 2)


class LocalBrokerTest(FogTestCase):
    def test_device_reading_reaches_the_gateway(self):
        broker = self.start_broker("local")
        gateway = self.collector(broker, "devices/+/#", identity="gateway")
        device = self.client(broker, "devices/sensor-01")
        device.publish("devices/sensor-01/readings", reading(1))
        msg = gateway.wait_for_message("devices/sensor-01/readings")
        self.assertEqual(msg.json(), reading(1))
        self.assertFalse(msg.retain)
        self.assertEqual(msg.qos, 1)
        fogtest.validate(msg.payload, "readings")

    def test_acl_drops_a_publish_under_another_device_id(self):
        broker = self.start_broker("local", verbose=True)
        observer = self.collector(broker, "devices/#")
        device = self.client(broker, "devices/sensor-01")
        device.publish("devices/sensor-02/readings", reading(1))
        device.publish("devices/sensor-01/status", "online", retain=True)
        # The marker went through the same connection after the forged one, so once it is here
        # the forged publish has been processed: it was dropped, not delayed.
        observer.wait_for_message("devices/sensor-01/status")
        self.assertEqual([m.topic for m in observer.messages()], ["devices/sensor-01/status"])
        broker.wait_for_log(r"Denied PUBLISH from .*'devices/sensor-02/readings'")

    def test_devices_read_only_their_own_acks(self):
        broker = self.start_broker("local")
        gateway = self.client(broker, "gateway")
        one = self.collector(broker, "devices/+/ack", identity="devices/sensor-01")
        two = self.collector(broker, "devices/+/ack", identity="devices/sensor-02")
        gateway.publish("devices/sensor-01/ack", {"boot": 7, "seq": 1})
        gateway.publish("devices/sensor-02/ack", {"boot": 3, "seq": 9})
        self.assertEqual(one.wait_for_message("devices/sensor-01/ack").json(), {"boot": 7, "seq": 1})
        self.assertEqual(two.wait_for_message("devices/sensor-02/ack").json(), {"boot": 3, "seq": 9})
        self.assertEqual([m.topic for m in two.messages()], ["devices/sensor-02/ack"])
        one.wait_for(1)
        self.assertEqual(len(one.messages()), 1)
        fogtest.validate(one.messages()[0].payload, "ack")

    def test_device_cannot_impersonate_the_gateway(self):
        broker = self.start_broker("local")
        observer = self.collector(broker, "#")
        device = self.client(broker, "devices/sensor-01")
        device.publish("devices/sensor-02/ack", {"boot": 1, "seq": 1})
        device.publish("gateways/gw-01/status", "online")
        device.publish("devices/sensor-01/health", {"battery": 3.9})
        observer.wait_for_message("devices/sensor-01/health")
        self.assertEqual([m.topic for m in observer.messages()], ["devices/sensor-01/health"])

    def test_connection_without_a_client_certificate_is_refused(self):
        broker = self.start_broker("local")
        with self.assertRaises(ConnectFailed):
            Client(broker).connect()
        with self.assertRaises(ConnectFailed):
            Client(broker, "bad/expired-client").connect()

    def test_persistent_session_keeps_a_backlog_beyond_1000_across_a_restart(self):
        broker = self.start_broker("local")
        client_id = "fogtest-gateway-session"
        first = Collector(broker, "devices/+/readings", "gateway", client_id=client_id, clean_session=False)
        self.addCleanup(first.close)
        first.start()
        first.close()
        device = self.client(broker, "devices/sensor-01")
        count = 1500  # Mosquitto's default max_queued_messages is 1000
        infos = [device.publish("devices/sensor-01/readings", reading(seq), wait=False) for seq in range(1, count + 1)]
        for info in infos:
            info.wait_for_publish(fogtest.scaled(10))
            self.assertTrue(info.is_published())
        device.close()
        broker.restart()
        again = Collector(broker, "devices/+/readings", "gateway", client_id=client_id, clean_session=False)
        self.addCleanup(again.close)
        again.start()
        self.assertTrue(again.session_present)
        msgs = again.wait_for(count, timeout=30)
        self.assertEqual(sorted({m.json()["seq"] for m in msgs}), list(range(1, count + 1)))

    def test_sigstop_freezes_the_broker_and_sigcont_resumes_it(self):
        broker = self.start_broker("local")
        observer = self.collector(broker, "devices/+/readings")
        device = self.client(broker, "devices/sensor-01")
        broker.sigstop()
        self.assertTrue(broker.process.stopped)
        info = device.publish("devices/sensor-01/readings", reading(5), wait=False)
        info.wait_for_publish(0.3)
        self.assertFalse(info.is_published())  # a frozen broker acknowledges nothing
        self.assertEqual(observer.messages(), [])
        broker.sigcont()
        info.wait_for_publish(fogtest.scaled(10))
        self.assertTrue(info.is_published())
        self.assertEqual(observer.wait_for_message("devices/sensor-01/readings").json(), reading(5))

    def test_kill_and_restart_on_the_same_port_and_the_collector_reconnects(self):
        broker = self.start_broker("local")
        port, pid = broker.port, broker.pid
        observer = self.collector(broker, "devices/+/readings")
        broker.restart(kill=True)
        self.assertEqual(broker.port, port)
        self.assertNotEqual(broker.pid, pid)
        observer.wait_connected(after=1)
        device = self.client(broker, "devices/sensor-03")
        device.publish("devices/sensor-03/readings", reading(1))
        observer.wait_for_message("devices/sensor-03/readings")


class PlainBrokerTest(FogTestCase):
    def test_anonymous_clients_on_loopback(self):
        broker = self.start_broker("local-plain")
        observer = self.collector(broker, "devices/#", identity=None)
        self.client(broker).publish("devices/anything/readings", b"not even json", qos=0)
        self.assertEqual(observer.wait_for_message("devices/anything/readings").payload, b"not even json")
        self.assertIn("listener", broker.config_path.read_text())
        self.assertRegex(broker.config_path.read_text(), rf"(?m)^listener {broker.port} 127\.0\.0\.1$")


class CloudBrokerTest(FogTestCase):
    def test_gateway_with_a_ca_certificate_is_accepted(self):
        broker = self.start_broker("cloud")
        cloud = self.collector(broker, "fogbridge/+/batch")
        gateway = self.client(broker, "gateway", protocol=fogtest.mqtt.MQTTv5)
        batch = fogtest.load_strict(fogtest.REPO_ROOT / "schemas" / "examples" / "batch.valid.json")
        gateway.publish("fogbridge/gw-01/batch", batch)
        got = cloud.wait_for_message("fogbridge/gw-01/batch")
        self.assertEqual(fogtest.validate(got.payload, "batch"), batch)
        broker.wait_for_log(r"New client connected .* u'gw-01'")

    def test_clients_without_a_good_certificate_are_refused(self):
        broker = self.start_broker("cloud")
        for identity in [None, "bad/other-ca-client", "bad/expired-client", "bad/not-yet-valid-client"]:
            with self.subTest(identity=identity), self.assertRaises(ConnectFailed):
                Client(broker, identity).connect()
        with self.assertRaises(fogtest.ssl.SSLError):  # the key does not belong to the cert
            Client(broker, "bad/mismatched")
        self.client(broker, "gateway")  # and the broker still serves good clients

    def test_client_refuses_a_broker_with_the_wrong_name_or_an_expired_certificate(self):
        for server_cert in ["bad/wrong-host-server", "bad/expired-server"]:
            with self.subTest(server_cert=server_cert):
                broker = self.start_broker("cloud", server_cert=server_cert, name=server_cert.replace("/", "-"))
                with self.assertRaises(ConnectFailed) as caught:
                    Client(broker, "gateway").connect()
                self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))


class HarnessTest(FogTestCase):
    def test_free_port_is_bindable(self):
        port = fogtest.free_port()
        self.assertGreater(port, 1024)
        with fogtest.socket.socket() as s:
            s.bind(("127.0.0.1", port))

    def test_wait_until_names_what_it_waited_for(self):
        self.assertEqual(fogtest.wait_until(lambda: 42, 1, "the answer"), 42)
        with self.assertRaisesRegex(AssertionError, "waiting for the impossible"):
            fogtest.wait_until(lambda: False, 0.05, "the impossible")

    def test_process_logs_stop_and_kill(self):
        script = ("import signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: (print('bye', flush=True), sys.exit(3)))\n"
                  "print('ready', flush=True)\n"
                  "print('to stderr', file=sys.stderr, flush=True)\n"
                  "while True: time.sleep(0.05)\n")
        proc = self.start_process([sys.executable, "-c", script], name="polite", env={"FOO": "1"})
        self.assertEqual(proc.wait_for_log(r"^ready$").group(0), "ready")
        proc.wait_for_log("to stderr", stream="stderr")
        self.assertEqual(proc.stop(), 3)
        self.assertIn("bye", proc.stdout())
        stubborn = self.start_process([sys.executable, "-c",
                                       "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                       "print('up', flush=True)\ntime.sleep(60)\n"], name="stubborn")
        stubborn.wait_for_log("up")
        self.assertEqual(stubborn.stop(timeout=0.3), -signal.SIGKILL)
        with self.assertRaisesRegex(AssertionError, "exited"):
            self.start_process(["/bin/sh", "-c", "echo nope"]).wait_for_log("never", timeout=5)

    def test_validate_reports_every_error(self):
        self.assertEqual(fogtest.validate(json.dumps(reading(1)).encode(), "reading"), reading(1))
        with self.assertRaises(AssertionError) as caught:
            fogtest.validate({**reading(1), "value": "NaN", "seq": 0}, "reading")
        self.assertIn("$['value']: 'NaN' is not of type 'number'", str(caught.exception))
        self.assertIn("$['seq']: 0 is less than the minimum of 1", str(caught.exception))
        with self.assertRaisesRegex(AssertionError, "not a finite number"):
            fogtest.validate({**reading(1), "value": float("nan")}, "reading")
        with self.assertRaises(ValueError):
            fogtest.validate(b'{"sensor":"t","value":NaN,"ts":1,"boot":1,"seq":1}', "reading")
        with self.assertRaises(KeyError):
            fogtest.validate({}, "no-such-schema")

    def test_schema_examples_check(self):
        done = subprocess.run([sys.executable, str(fogtest.REPO_ROOT / "tests" / "support" / "check_schemas.py")],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_build_dir_comes_from_the_environment(self):
        old = os.environ.get("FOGBRIDGE_BUILD_DIR")
        self.addCleanup(lambda: os.environ.__setitem__("FOGBRIDGE_BUILD_DIR", old) if old is not None
                        else os.environ.pop("FOGBRIDGE_BUILD_DIR", None))
        os.environ.pop("FOGBRIDGE_BUILD_DIR", None)
        self.assertEqual(fogtest.build_dir(), fogtest.REPO_ROOT / "build" / "dev")
        with tempfile.TemporaryDirectory() as d:
            os.environ["FOGBRIDGE_BUILD_DIR"] = d
            self.assertEqual(fogtest.build_path("gateway", "x"), pathlib.Path(d) / "gateway" / "x")
            with self.assertRaisesRegex(FileNotFoundError, "not a built executable"):
                fogtest.executable("gateway", "x")


if __name__ == "__main__":
    unittest.main()
