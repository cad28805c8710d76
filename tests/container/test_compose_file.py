#!/usr/bin/python3
"""Checks docker-compose.yml and deploy/compose/ without starting containers: the file passes
docker-compose's own validation, every file it bind-mounts exists once deploy/compose/prepare
has run, the containers' keys are readable by uid/gid 10001 only, and the gateway accepts the
image's configuration. scripts/container-test runs the stack itself.

Run: /usr/bin/python3 -m unittest -v test_compose_file   (in tests/container)
Environment: FOGBRIDGE_BUILD_DIR (for gateway/fogbridge --check-config; skipped without it).
"""

import os
import pathlib
import shutil
import stat
import subprocess
import tempfile
import unittest

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVICES = {"local-broker", "cloud-broker", "gateway", "sensor-01", "sensor-02", "sensor-03"}


class ComposeFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="fogbridge-compose-test-"))
        cls.dir = cls.tmp / "compose"
        r = subprocess.run([str(REPO / "deploy" / "compose" / "prepare"), str(cls.dir)],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"prepare failed: {r.stdout}{r.stderr}")
        cls.env = dict(os.environ, FOGBRIDGE_COMPOSE_DIR=str(cls.dir))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def resolved(self):
        """The compose file with variables substituted, as docker-compose sees it."""
        exe = shutil.which("docker-compose")
        if exe is None:
            self.skipTest("docker-compose is not installed (scripts/container-test installs it)")
        r = subprocess.run([exe, "-f", str(REPO / "docker-compose.yml"), "config"], cwd=REPO,
                           env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return yaml.safe_load(r.stdout)

    def test_services_and_their_bind_mounts_exist(self):
        conf = self.resolved()
        self.assertEqual(set(conf["services"]), SERVICES)
        for name, service in conf["services"].items():
            for volume in service.get("volumes", []):
                source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
                kind = volume.get("type") if isinstance(volume, dict) else None
                if kind == "volume" or not source.startswith("/"):
                    continue
                self.assertTrue(pathlib.Path(source).exists(), f"{name}: {source} is missing")

    def test_only_the_brokers_publish_ports_and_only_on_loopback(self):
        conf = self.resolved()
        for name, service in conf["services"].items():
            for port in service.get("ports", []):
                self.assertIn(name, ("local-broker", "cloud-broker"))
                host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
                self.assertEqual(host_ip, "127.0.0.1", name)

    def test_rendered_broker_configs_have_no_placeholders(self):
        for f in (self.dir / "mosquitto").iterdir():
            self.assertNotRegex(f.read_text(), r"@[A-Z_]+@", f.name)
        local = (self.dir / "mosquitto" / "local.conf").read_text()
        self.assertIn("listener 8883 0.0.0.0", local)
        self.assertIn("keyfile /etc/mosquitto/fogbridge/pki/local-broker.key", local)
        self.assertIn("listener 8885 0.0.0.0", local)
        self.assertIn("crlfile /etc/mosquitto/fogbridge/pki/device-ca.crl", local)
        self.assertIn("user CN=gw-01", (self.dir / "mosquitto" / "local-service-acl").read_text())

    def test_container_keys_are_for_group_10001_only(self):
        if os.geteuid() != 0:
            self.skipTest("prepare makes keys world-readable without root")
        keys = [self.dir / "pki" / n for n in ("gateway.key", "local-broker.key", "cloud-broker.key")]
        keys += sorted((self.dir / "pki" / "devices").glob("*.key"))
        self.assertEqual(len(keys), 6)
        for k in keys:
            st = k.stat()
            self.assertEqual((st.st_gid, stat.S_IMODE(st.st_mode)), (10001, 0o640), k.name)
        self.assertEqual(stat.S_IMODE((self.dir / "pki" / "ca.key").stat().st_mode), 0o600)

    def test_prepare_keeps_an_existing_pki(self):
        before = (self.dir / "pki" / "ca.crt").read_bytes()
        r = subprocess.run([str(REPO / "deploy" / "compose" / "prepare"), str(self.dir)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.dir / "pki" / "ca.crt").read_bytes(), before)

    def test_gateway_accepts_the_image_config(self):
        build = os.environ.get("FOGBRIDGE_BUILD_DIR")
        exe = pathlib.Path(build or REPO / "build" / "dev") / "gateway" / "fogbridge"
        if not exe.exists():
            self.skipTest(f"no gateway at {exe}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOGBRIDGE_")}
        env["FOGBRIDGE_CLOUD_HOST"] = "cloud-broker"  # as docker-compose.yml sets it
        r = subprocess.run([str(exe), "--config", str(REPO / "deploy" / "compose" / "fogbridge.toml"),
                            "--check-config"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
