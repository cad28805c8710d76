#!/usr/bin/python3
"""Trust boundaries of the local broker, with the shipped templates (deploy/mosquitto/local.conf.in
and its two ACLs) and the PKI of certs/make-certs.sh: a board cannot take the gateway's client id
or session, a device certificate named like a service gets no service rights, and a revoked board
is refused once the broker reloads. In each case the gateway keeps its session and the audit finds
every reading of the other boards (missing 0)."""

import glob
import importlib.machinery
import json
import pathlib
import re
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import REPO_ROOT, Client, ConnectFailed, FogTestCase, free_port, wait_until  # noqa: E402

audit_tool = importlib.machinery.SourceFileLoader(
    "fogbridge_audit", str(REPO_ROOT / "tools" / "fogbridge-audit")).load_module()

SUMMARY = re.compile(r"fogbridge-sensor: id=(\S+) boot=(\d+) published=(\d+) recovered=(\d+) acked=(\d+)")
GATEWAY_SESSION = "CN=gw-01"  # the gateway's client id on the local broker: its certificate's subject


def device_ca_cert(pki, common_name):
    """A client certificate from the live device CA with any CN, as a careless operator (or a
    stolen CA key) would make it: make-certs.sh refuses to issue these."""
    out = pki.dir / "rogue"
    out.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    key, csr, crt, ext = (out / f"{tag}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for cmd in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}"],
                ["x509", "-req", "-in", csr, "-CA", pki.device_ca, "-CAkey", pki.dir / "device-ca.key",
                 "-set_serial", str(uuid.uuid4().int >> 64), "-days", "2", "-extfile", ext, "-out", crt]):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True)
    return str(crt), str(key)


def sync(client):
    """A SUBACK round trip: what the broker did for client's earlier packets is done by its return."""
    client.subscribe(f"fogtest/sync/{uuid.uuid4().hex}")


class TrustCase(FogTestCase):
    devices = ("sensor-01", "sensor-02", "sensor-03")
    boards = ("sensor-01", "sensor-03")  # run the SDK; sensor-02 is the attacker's certificate

    def start_stack(self):
        # The shipped trust: each listener trusts only its own CA (no negative-test CA).
        self.local = self.start_broker("local", cafile=self.pki.service_ca, crlfile=self.pki.service_crl)
        self.cloud = self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", {"gateway": {"health_interval": 0.5}})
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"], clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)
        self.sensors = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                              "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                        for i, b in enumerate(self.boards, start=1)]
        self.wait_streaming()

    def batches(self):
        return fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")])

    def wait_streaming(self, more=50):
        start = len(self.batches())
        wait_until(lambda: len(self.batches()) >= start + more, 30, f"{more} more readings at the cloud")

    def gateway_connects(self):
        return len(re.findall(rf"New client connected from \S+ as {GATEWAY_SESSION} ", self.local.log()))

    def assert_gateway_kept_its_session(self, connects=1):
        log = self.local.log()
        self.assertNotRegex(log, rf"Client {GATEWAY_SESSION} already connected")
        self.assertEqual(self.gateway_connects(), connects, log[-3000:])
        self.assertNotRegex(self.gateway.output(), r"local broker .*(reconnecting|connection lost)")

    def finish_and_audit(self):
        """Stops the boards (they flush until acknowledged), waits for an empty queue, audits."""
        sent = set()
        for b in self.sensors:
            b.stop(timeout=90)
            m = SUMMARY.search(b.stdout())
            self.assertIsNotNone(m, b.output()[-2000:])
            device, boot, published, recovered, acked = m.group(1), *map(int, m.groups()[1:])
            self.assertEqual(acked, published + recovered, f"{device} still holds unacknowledged readings")
            sent |= {(device, boot, seq) for seq in range(1, published + 1)}
        stopped = time.time()

        def drained():
            fresh = [h for h in (m.json() for m in self.health.messages()) if h["ts"] > stopped]
            return fresh and fresh[-1]["queue"]["readings"] == 0 and fresh[-1]["queue"]["leased_batches"] == 0
        wait_until(drained, 60, "an empty queue")

        def audited():
            received = [{"topic": m.topic, "payload": m.payload.decode()} for m in self.received.messages()]
            return audit_tool.audit(sent, received)
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


class ClientIdTest(TrustCase):
    def test_a_board_asking_for_the_gateways_client_id_gets_its_own(self):
        self.start_stack()
        wanted = [(f"fogbridge-{self.pki.gateway_id}", False), (f"fogbridge-{self.pki.gateway_id}", True),
                  (GATEWAY_SESSION, False), (GATEWAY_SESSION, True)]
        for client_id, clean in wanted:
            with self.subTest(client_id=client_id, clean_session=clean):
                mark = self.local.mark()
                board = Client(self.local, "devices/sensor-02", client_id=client_id, clean_session=clean)
                board.connect()
                # The broker replaces the id the board asked for with its certificate's CN, so it
                # neither closes the gateway's connection nor inherits or clears its session.
                self.local.wait_for_log(r"New client connected from \S+ as sensor-02 .*u'sensor-02'", since=mark)
                # Its own session: nothing queued for the gateway comes with it.
                sync(board)
                self.assertEqual(board.messages(), [])
                board.close()
        self.wait_streaming()
        self.assert_gateway_kept_its_session()
        self.finish_and_audit()

    def test_the_gateway_asks_for_the_id_its_certificate_gives_it(self):
        # With the service listener's id binding switched off, the broker shows the id the
        # gateway sends: local.client_id defaults to the subject of local.cert_file.
        self.local = self.start_broker("local", extra_config="use_username_as_clientid false")
        self.cloud = self.start_broker("cloud")
        config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                         self.work_dir / "q.db")
        fogstack.start_gateway(self, config)
        self.local.wait_for_log(rf"New client connected from \S+ as {GATEWAY_SESSION} .*u'{GATEWAY_SESSION}'", 15)


class ServiceNameTest(TrustCase):
    def test_device_certificates_named_like_services_get_no_service_rights(self):
        self.start_stack()
        acks = self.collector(self.local, "devices/+/ack")
        for cn in [self.pki.gateway_id, "observer", f"fogbridge-{self.pki.gateway_id}"]:
            with self.subTest(cn=cn):
                crt, key = device_ca_cert(self.pki, cn)
                # Refused on the service listener: its certificate is from the device CA.
                with self.assertRaises(ConnectFailed):
                    Client(self.local, cert=crt, key=key, port=self.local.service_port).connect(timeout=5)
                # On the device listener it is a board named cn, nothing more.
                mark = self.local.mark()
                rogue = Client(self.local, cert=crt, key=key, client_id=GATEWAY_SESSION, clean_session=False)
                rogue.connect()
                self.local.wait_for_log(rf"New client connected from \S+ as {re.escape(cn)} ", since=mark)
                try:
                    rogue.subscribe(["devices/+/readings", "devices/+/ack", "gateways/#"])
                except AssertionError:
                    pass  # refused outright, or granted and then nothing delivered: both fine
                rogue.publish("devices/sensor-01/ack", b'{"seq": 999999}', wait=False)
                rogue.publish(f"gateways/{self.pki.gateway_id}/status", b"offline", retain=True, wait=False)
                rogue.publish(f"gateways/{self.pki.gateway_id}/health", b"{}", retain=True, wait=False)
                sync(rogue)  # the broker has handled the publishes above
                self.assertEqual(rogue.messages(), [])
                rogue.close()
        sync(acks)
        forged = [m for m in acks.messages() if b"999999" in m.payload]
        self.assertEqual(forged, [])
        status = self.collector(self.local, f"gateways/{self.pki.gateway_id}/status")
        status.wait_for_message(lambda m: m.payload == b"online")
        self.assertNotIn(b"offline", [m.payload for m in status.messages()])
        health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        health.wait_for(1)
        self.assertNotIn(b"{}", [m.payload for m in health.messages()])
        self.wait_streaming()
        self.assert_gateway_kept_its_session()
        self.finish_and_audit()

    def test_the_certs_script_refuses_a_device_named_like_a_service(self):
        for name in [self.pki.gateway_id, f"fogbridge-{self.pki.gateway_id}", "observer", "local-broker"]:
            with self.subTest(name=name):
                done = subprocess.run([str(REPO_ROOT / "certs" / "make-certs.sh"), "--out", str(self.work_dir / name),
                                       "--devices", f"sensor-09 {name}"], capture_output=True, text=True)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("named like a service", done.stderr)
                self.assertFalse((self.work_dir / name / "ca.crt").exists())


class RevocationTest(TrustCase):
    devices = ("sensor-01", "sensor-02", "sensor-03", "sensor-04")

    def test_a_revoked_board_is_refused_after_a_reload(self):
        self.start_stack()
        done = subprocess.run([str(REPO_ROOT / "certs" / "make-certs.sh"), "--out", str(self.pki.dir),
                               "--revoke", "sensor-04"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("revoked", done.stdout)
        # Until the broker reloads, it still has the old CRL.
        stolen = self.client(self.local, "devices/sensor-04")
        stolen.publish("devices/sensor-04/readings", b"{}")
        mark = self.local.mark()
        self.local.reload()
        self.local.wait_for_log(r"Reloading config", since=mark)
        wait_until(lambda: self._refused("devices/sensor-04"), 10, "sensor-04 refused")
        self.assertTrue(self._accepted("devices/sensor-02"))
        self.wait_streaming()
        self.assert_gateway_kept_its_session()
        # The reload leaves a connection already open alone; a restart cuts it for good.
        self.assertTrue(stolen.connected)
        self.local.restart()
        wait_until(lambda: not stolen.connected, 10, "the stolen board cut off")
        self.assertTrue(self._refused("devices/sensor-04"))
        self.assertTrue(self._accepted("devices/sensor-02"))
        stolen.close()
        wait_until(lambda: self.gateway_connects() >= 2, 30, "the gateway back after the restart")
        self.wait_streaming()
        self.finish_and_audit()

    def _accepted(self, identity):
        return not self._refused(identity)

    def _refused(self, identity):
        try:
            Client(self.local, identity).connect(timeout=5).close()
            return False
        except ConnectFailed:
            return True


class SubscriptionRefusedTest(TrustCase):
    """A local broker that refuses the gateway's subscription. Mosquitto 2.0.11 with an `acl_file`
    grants a subscription its ACL gives no read access to (SUBACK QoS 1) and then delivers nothing;
    its dynamic security plugin refuses it (SUBACK 0x80). The gateway takes 0x80 as an error: it
    logs it, counts it, answers /healthz unhealthy, and reconnects with backoff (no link that
    receives nothing, no reconnect every 200 ms); once the broker allows it, readings flow."""

    def dynsec_broker(self):
        """The shipped local broker, its service listener's ACL file replaced by the dynamic
        security plugin denying the gateway any subscription under devices/."""
        plugins = glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")
        self.assertTrue(plugins, "mosquitto's dynamic security plugin is not installed")
        local = self.start_broker("local", cafile=self.pki.service_ca, crlfile=self.pki.service_crl)
        config = local.dir / "dynsec.json"
        config.write_text(json.dumps({
            "defaultACLAccess": {"publishClientSend": True, "publishClientReceive": True,
                                 "subscribe": True, "unsubscribe": True},
            "clients": [{"username": f"CN={self.pki.gateway_id}", "roles": [{"rolename": "no-devices"}]}],
            "groups": [],
            "roles": [{"rolename": "no-devices",
                       "acls": [{"acltype": "subscribePattern", "topic": "devices/#", "priority": 0,
                                 "allow": False}]}]}))
        shipped = local._write_config

        def with_dynsec():
            shipped()
            text = local.config_path.read_text()
            acl = f"acl_file {local.service_acl_path}\n"
            self.assertIn(acl, text)
            local.config_path.write_text(text.replace(
                acl, f"plugin {plugins[0]}\nplugin_opt_config_file {config}\n"))
        local._write_config = with_dynsec
        local.restart()
        return local, shipped

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def healthz(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def refused_total(self):
        m = re.search(r"^fogbridge_local_subscription_refused_total (\d+)$", self.metrics(), re.M)
        return int(m.group(1)) if m else 0

    def test_a_refused_subscription_is_an_error_with_backoff_until_the_broker_allows_it(self):
        self.local, shipped = self.dynsec_broker()
        self.cloud = self.start_broker("cloud")
        self.metrics_port = free_port()
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db",
                                              {"gateway": {"health_interval": 0.5},
                                               "metrics": {"port": self.metrics_port}})
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"], clean_session=False)
        self.gateway = fogstack.start_gateway(self, self.config)
        self.gateway.wait_for_log(r"local broker \S+: the broker refused \d+ subscription\(s\) \(SUBACK 0x80\)", 20)
        refused_at = time.monotonic()
        self.assertIn(f"Client CN={self.pki.gateway_id} ", self.local.log())  # it got that far
        wait_until(lambda: self.refused_total() >= 2, 20, "a second refused connection")
        status, text = self.healthz()
        self.assertEqual(status, 503, text)
        self.assertIn("local broker: the broker refused", text)
        self.assertIn("fogbridge_local_subscribed 0\n", self.metrics())
        # Backoff: each delay is drawn between 0.2 s and three times the previous one, up to 10 s
        # (decorrelated jitter; 5 to 13 connections in 10 s were seen); a fixed 200 ms retry would
        # make about 50.
        time.sleep(max(0.0, 10 - (time.monotonic() - refused_at)))  # the scenario's duration
        connects = self.gateway_connects()
        self.assertLessEqual(connects, 20, self.local.log()[-3000:])
        print(f"\n{connects} connections in 10 s of refused subscriptions", file=sys.stderr)

        # The broker allows it: the gateway subscribes at its next attempt, and readings flow.
        self.local._write_config = shipped
        mark = self.gateway.mark()
        self.local.restart()
        self.gateway.wait_for_log(r"local broker \S+: subscribed", 30, since=mark)
        # Service clients other than the gateway are unknown to the plugin's config: only now.
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.sensors = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                              "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                        for i, b in enumerate(self.boards, start=1)]
        self.wait_streaming()
        wait_until(lambda: self.healthz() == (200, "ok\n"), 20, "healthy again")
        self.finish_and_audit()


if __name__ == "__main__":
    unittest.main()
