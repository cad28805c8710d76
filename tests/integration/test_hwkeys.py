#!/usr/bin/python3
"""The gateway's private key in hardware: a SoftHSM2 token (PKCS#11) and a software TPM (swtpm,
tpm2-openssl), each made by certs/hw-key.sh. Both links connect with it, a wrong PIN, a missing
token and an unreachable TPM each stop start-up with one line, and a new certificate for the same
hardware key rotates in without a restart."""

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import fogtest  # noqa: E402
from fogtest import FogTestCase, free_port, scaled, wait_until  # noqa: E402

HW_KEY = pathlib.Path(__file__).resolve().parents[2] / "certs" / "hw-key.sh"
SOFTHSM_MODULE = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                                   "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") if os.path.exists(p)), None)
TOKEN = "fogbridge"


def hw_key(*args, env=None):
    done = subprocess.run([str(HW_KEY), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=scaled(60))
    if done.returncode != 0:
        raise AssertionError(f"hw-key.sh {' '.join(map(str, args))}: {done.stderr.strip()}")
    return done.stdout


class HardwareKeyCase(FogTestCase):
    env = {}

    def start(self, local_tls, cloud_tls, wait=True):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", {"local": local_tls, "cloud": cloud_tls})
        self.gateway = self.start_process([str(fogtest.executable(fogstack.GATEWAY)), "--config", str(self.config)],
                                          name="gateway", env=self.env)
        if wait:
            fogstack.wait_gateway_online(self, self.local, scaled(20))
            self.cloud.wait_for_log(r"New client connected .* as fogbridge-gw-01 .*u'gw-01'", scaled(20))

    def assert_one_line_exit(self, pattern):
        self.assertEqual(self.gateway.wait(scaled(15)), 1, self.gateway.output())
        self.assertRegex(self.gateway.stderr(), r"^fogbridge: (cloud TLS|local broker): " + pattern + r"\n$")

    def rotate(self, cert, fresh):
        """Copies a new certificate over the one in use; both links reconnect with it."""
        local_mark, cloud_mark = self.local.mark(), self.cloud.mark()
        shutil.copy(fresh, cert)
        self.gateway.wait_for_log(r"certificate rotation: new credentials checked", scaled(15))
        self.gateway.wait_for_log(r"local broker: certificate rotation: new credentials checked", scaled(15))
        self.cloud.wait_for_log(r"New client connected .* u'gw-01'", scaled(20), since=cloud_mark)
        # On the local broker's service listener the user name is the certificate's subject.
        self.local.wait_for_log(r"New client connected .* u'CN=gw-01'", scaled(20), since=local_mark)
        self.assertTrue(self.gateway.running)

    def assert_pin_nowhere(self, pin):
        for path in sorted(self.work_dir.rglob("*")):
            if path.is_file() and path.suffix != ".pin":
                self.assertNotIn(pin.encode(), path.read_bytes(), f"the PIN is in {path}")


@unittest.skipUnless(SOFTHSM_MODULE and shutil.which("softhsm2-util") and shutil.which("p11tool"),
                     "softhsm2 and gnutls-bin (p11tool) are not installed")
class SoftHsmTest(HardwareKeyCase):
    """The key in a SoftHSM2 token with its own configuration and token directory."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        hsm = cls.class_dir / "softhsm"
        (hsm / "tokens").mkdir(parents=True)
        conf = hsm / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {hsm / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        cls.env = {"SOFTHSM2_CONF": str(conf)}
        cls.pin = "9" + secrets.token_hex(4)
        cls.pin_file = cls.class_dir / "user.pin"
        cls.pin_file.write_text(cls.pin + "\n")
        os.chmod(cls.pin_file, 0o600)
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", cls.pin,
                        "--so-pin", secrets.token_hex(4)], check=True, capture_output=True, env={**os.environ, **cls.env})
        cls.cert = cls.class_dir / "gw-hsm.crt"
        hw_key("pkcs11", "--module", SOFTHSM_MODULE, "--token", TOKEN, "--object", "gateway",
               "--pin-file", cls.pin_file, "--cn", "gw-01", "--out", cls.cert, "--ca-dir", cls.pki.dir, env=cls.env)

    def tls(self, cert=None, token=TOKEN, pin_file=None):
        return {"cert_file": str(cert or self.cert), "key_file": f"pkcs11:token={token};object=gateway",
                "key_pin_file": str(pin_file or self.pin_file), "pkcs11_module": SOFTHSM_MODULE}

    def test_key_in_a_token_connects_both_links_and_rotates(self):
        cert = self.work_dir / "gw.crt"
        shutil.copy(self.cert, cert)
        self.start(self.tls(cert), self.tls(cert))
        # Rotation: a new certificate for the same key in the token, issued from a CSR.
        fresh = self.work_dir / "gw-new.crt"
        hw_key("pkcs11", "--module", SOFTHSM_MODULE, "--token", TOKEN, "--object", "gateway", "--pin-file",
               self.pin_file, "--cn", "gw-01", "--out", fresh, "--ca-dir", self.pki.dir, "--days", 30,
               "--reuse-key", env=self.env)
        self.rotate(cert, fresh)
        self.assertIn("expire in 30 days", self.gateway.stderr())
        self.assert_pin_nowhere(self.pin)

    def test_a_wrong_pin_stops_start_up_with_one_line(self):
        wrong = self.work_dir / "wrong.pin"
        wrong.write_text("1" + secrets.token_hex(4) + "\n")
        os.chmod(wrong, 0o600)
        self.start(self.tls(pin_file=wrong), self.tls(pin_file=wrong), wait=False)
        self.assert_one_line_exit(r"wrong PIN for PKCS#11 token 'fogbridge'")

    def test_a_missing_token_stops_start_up_with_one_line(self):
        self.start(self.tls(token="unplugged"), self.tls(token="unplugged"), wait=False)
        self.assert_one_line_exit(r"no PKCS#11 token 'unplugged' \(not plugged in\?\)")

    def test_a_missing_key_stops_start_up_with_one_line(self):
        tls = self.tls()
        tls["key_file"] = f"pkcs11:token={TOKEN};object=nothing"
        self.start(tls, tls, wait=False)
        self.assert_one_line_exit(r"no key 'nothing' in PKCS#11 token 'fogbridge'")


def port_pair():
    """Two free neighbouring ports: the swtpm TCTI finds the control channel at port + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port, port + 1
            except OSError:
                continue
    raise AssertionError("no two neighbouring free ports")


def tpm_answers(env):
    done = subprocess.run(["tpm2_getrandom", "4"], capture_output=True, env={**os.environ, **env}, timeout=10)
    return done.returncode == 0


TPM2_PROVIDER = any(pathlib.Path("/usr/lib").glob("*/ossl-modules/tpm2.so"))


@unittest.skipUnless(shutil.which("swtpm") and shutil.which("tpm2_createprimary") and TPM2_PROVIDER,
                     "swtpm, tpm2-tools or tpm2-openssl is not installed")
class SoftwareTpmTest(HardwareKeyCase):
    """A key with an authorization value (the PIN) made persistent at a handle (cloud link) and a
    TPM-wrapped key file without one (local link), in swtpm on a private state directory. Key
    files with an authorization value are not made by certs/hw-key.sh (see docs/hardware-keys.md)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        state = cls.class_dir / "tpm"
        state.mkdir()
        port, ctrl = port_pair()
        cls.swtpm = fogtest.Process(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                                     "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                                     "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
                                     "--flags", "not-need-init,startup-clear"], cls.class_dir, name="swtpm")
        cls.swtpm.start()
        try:
            tcti = f"swtpm:host=127.0.0.1,port={port}"
            cls.env = {"TPM2OPENSSL_TCTI": tcti}
            tools = {"TPM2TOOLS_TCTI": tcti, "TPM2OPENSSL_TCTI": tcti}
            wait_until(lambda: tpm_answers(tools), scaled(10), "swtpm to answer")
            cls.pin = "7" + secrets.token_hex(4)
            cls.pin_file = cls.class_dir / "tpm.pin"
            cls.pin_file.write_text(cls.pin + "\n")
            os.chmod(cls.pin_file, 0o600)
            cls.handle_cert, cls.file_cert = cls.class_dir / "handle.crt", cls.class_dir / "file.crt"
            cls.key_file = cls.class_dir / "gw.tss2.pem"
            cls.tools = tools
            hw_key("tpm", "--handle", "0x81000010", "--pin-file", cls.pin_file, "--cn", "gw-01",
                   "--out", cls.handle_cert, "--ca-dir", cls.pki.dir, env=tools)
            hw_key("tpm", "--key-file", cls.key_file, "--cn", "gw-01",
                   "--out", cls.file_cert, "--ca-dir", cls.pki.dir, env=tools)
            # Made now: swtpm serves one client at a time, and the gateway will be that client.
            cls.rotated = cls.class_dir / "handle-new.crt"
            hw_key("tpm", "--handle", "0x81000010", "--pin-file", cls.pin_file, "--cn", "gw-01",
                   "--out", cls.rotated, "--days", 30, "--ca-dir", cls.pki.dir, "--reuse-key", env=tools)
        except BaseException:
            cls.swtpm.kill()
            super().tearDownClass()  # unittest skips tearDownClass when setUpClass fails
            raise

    @classmethod
    def tearDownClass(cls):
        cls.swtpm.stop()
        super().tearDownClass()

    def tls_handle(self, cert, pin_file=None):
        return {"cert_file": str(cert), "key_file": "handle:0x81000010",
                "key_pin_file": str(pin_file or self.pin_file)}

    def tls_file(self):
        return {"cert_file": str(self.file_cert), "key_file": str(self.key_file)}

    def test_keys_in_a_tpm_connect_both_links_and_rotate(self):
        cert = self.work_dir / "gw.crt"
        shutil.copy(self.handle_cert, cert)
        self.start(self.tls_file(), self.tls_handle(cert))
        local_mark = self.local.mark()
        cloud_mark = self.cloud.mark()
        shutil.copy(self.rotated, cert)
        self.gateway.wait_for_log(r"certificate rotation: new credentials checked \(expire in (29|30) days\)", scaled(15))
        self.cloud.wait_for_log(r"New client connected .* u'gw-01'", scaled(20), since=cloud_mark)
        self.assertNotIn("New client connected", self.local.log()[local_mark[1]:])
        self.assert_pin_nowhere(self.pin)

    def test_a_wrong_pin_stops_start_up_with_one_line(self):
        wrong = self.work_dir / "wrong.pin"
        wrong.write_text("1" + secrets.token_hex(4) + "\n")
        os.chmod(wrong, 0o600)
        self.addCleanup(subprocess.run, ["tpm2_dictionarylockout", "-c"], capture_output=True,
                        env={**os.environ, **self.tools}, timeout=30)  # the failed try counts
        self.start(self.tls_file(), self.tls_handle(self.handle_cert, wrong), wait=False)
        self.assert_one_line_exit(r"wrong PIN for TPM key handle:0x81000010")

    def test_an_unreachable_tpm_stops_start_up_with_one_line(self):
        self.env = {"TPM2OPENSSL_TCTI": f"swtpm:host=127.0.0.1,port={free_port()}"}
        self.start(self.tls_file(), self.tls_handle(self.handle_cert), wait=False)
        self.assert_one_line_exit(r"TPM unavailable.*")

    def test_a_handle_without_a_key_stops_start_up_with_one_line(self):
        tls = {"cert_file": str(self.handle_cert), "key_file": "handle:0x81000099"}
        self.start(tls, tls, wait=False)
        self.assert_one_line_exit(r"no TPM key at handle:0x81000099")


if __name__ == "__main__":
    unittest.main()
