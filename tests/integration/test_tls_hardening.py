#!/usr/bin/python3
"""The TLS set-up fails closed: a CA file without a certificate and a private key readable by
its group stop start-up with one line naming the key; a CRL that revokes the cloud broker's
certificate makes the gateway refuse it; the key's passphrase comes from a file; a client
certificate from a CA other than the server's rotates in given its own CA file."""

import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, scaled  # noqa: E402


def openssl(*args, cwd=None):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=cwd, timeout=60)


class HardeningTest(FogTestCase):
    def start(self, sections, wait=True, cloud_cafile=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud", cafile=cloud_cafile) if cloud_cafile else self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", sections)
        self.gateway = fogstack.start_gateway(self, self.config)
        if wait:
            fogstack.wait_gateway_online(self, self.local, scaled(20))

    def assert_one_line_exit(self, pattern):
        self.assertEqual(self.gateway.wait(scaled(15)), 1, self.gateway.output())
        self.assertRegex(self.gateway.stderr(), r"^fogbridge: (cloud TLS|local broker): " + pattern + r"\n$")

    def private_copy(self, path, name, mode=0o600):
        copy = self.work_dir / name
        shutil.copy(path, copy)
        os.chmod(copy, mode)
        return copy

    def test_a_ca_file_without_a_certificate_stops_start_up(self):
        empty = self.work_dir / "empty-ca.crt"
        empty.write_text("")
        self.start({"cloud": {"ca_file": str(empty)}}, wait=False)
        self.assert_one_line_exit(r"cloud\.ca_file: \S+empty-ca\.crt holds no certificate")

    def test_a_key_readable_by_its_group_is_refused(self):
        key = self.private_copy(self.pki.gateway[1], "gw.key", 0o640)
        self.start({"local": {"key_file": str(key)}}, wait=False)
        self.assert_one_line_exit(r"local\.key_file: \S+gw\.key is accessible by its group \(mode 0640\); chmod 600 it")

    def test_the_key_passphrase_comes_from_a_file(self):
        passphrase = "fog-" + secrets.token_hex(12)
        pass_file = self.private_copy(os.devnull, "key.pass")
        pass_file.write_text(passphrase + "\n")
        encrypted = self.work_dir / "gw.enc.key"
        openssl("pkey", "-in", self.pki.gateway[1], "-aes256", "-passout", f"file:{pass_file}", "-out", encrypted)
        os.chmod(encrypted, 0o600)
        tls = {"key_file": str(encrypted), "key_passphrase_file": str(pass_file)}
        self.start({"local": tls, "cloud": tls})
        self.cloud.wait_for_log(r"New client connected .* u'gw-01'", scaled(20))
        self.assertNotIn(passphrase, self.gateway.output())

    def make_crl(self, revoke):
        """A CRL from the test CA that revokes the given certificates (maybe none)."""
        ca = self.work_dir / "ca-db"
        ca.mkdir()
        (ca / "index.txt").write_text("")
        (ca / "crlnumber").write_text("01\n")
        conf = ca / "ca.cnf"
        conf.write_text(f"[ca]\ndefault_ca = d\n[d]\ndatabase = {ca}/index.txt\ncrlnumber = {ca}/crlnumber\n"
                        f"certificate = {self.pki.ca}\nprivate_key = {self.pki.dir}/ca.key\n"
                        "default_md = sha256\ndefault_crl_days = 30\n")
        for cert in revoke:
            openssl("ca", "-config", conf, "-revoke", cert)
        crl = self.work_dir / "ca.crl"
        openssl("ca", "-config", conf, "-gencrl", "-out", crl)
        return crl

    def test_a_crl_that_revokes_the_cloud_broker_is_enforced(self):
        crl = self.make_crl([self.pki.identity("cloud-broker")[0]])
        self.start({"cloud": {"crl_file": str(crl)}})
        self.gateway.wait_for_log(r"cloud broker .*cannot connect: the broker's certificate: certificate revoked", scaled(15))

    def test_a_crl_that_revokes_nothing_lets_the_gateway_connect(self):
        crl = self.make_crl([])
        self.start({"cloud": {"crl_file": str(crl)}, "local": {"crl_file": str(crl)}})
        self.cloud.wait_for_log(r"New client connected .* u'gw-01'", scaled(20))

    def test_a_crl_file_without_a_crl_stops_start_up(self):
        self.start({"cloud": {"crl_file": str(self.pki.ca)}}, wait=False)
        self.assert_one_line_exit(r"cloud\.crl_file: \S+ cannot be read or holds no CRL")

    def test_rotation_to_a_client_certificate_of_another_ca_given_its_ca_file(self):
        # A cloud that issues client certificates from a CA of its own, as AWS IoT Core does.
        d = self.work_dir
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                "-subj", "/CN=client-ca", "-keyout", d / "client-ca.key", "-out", d / "client-ca.crt",
                "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=gw-01", "-keyout", d / "new.key", "-out", d / "new.csr")
        (d / "ext.cnf").write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n")
        openssl("x509", "-req", "-in", d / "new.csr", "-CA", d / "client-ca.crt", "-CAkey", d / "client-ca.key",
                "-set_serial", "7", "-days", "20", "-out", d / "new.crt", "-extfile", d / "ext.cnf")
        bundle = d / "broker-cas.crt"
        bundle.write_text(pathlib.Path(self.pki.ca).read_text() + (d / "client-ca.crt").read_text())
        crt = self.private_copy(self.pki.gateway[0], "gw.crt", 0o644)
        key = self.private_copy(self.pki.gateway[1], "gw.key")
        self.start({"cloud": {"cert_file": str(crt), "key_file": str(key), "client_ca_file": str(bundle)}},
                   cloud_cafile=bundle)
        mark = self.cloud.mark()
        shutil.copy(d / "new.key", key)
        shutil.copy(d / "new.crt", crt)
        self.gateway.wait_for_log(r"certificate rotation: new credentials checked \(expire in (19|20) days\)", scaled(15))
        self.cloud.wait_for_log(r"New client connected .* u'gw-01'", scaled(20), since=mark)

    def test_the_local_link_rotates_its_certificate_and_refuses_a_bad_set(self):
        crt = self.private_copy(self.pki.gateway[0], "gw.crt", 0o644)
        key = self.private_copy(self.pki.gateway[1], "gw.key")
        self.start({"local": {"cert_file": str(crt), "key_file": str(key)}})
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)  # not the cert's
        self.gateway.wait_for_log(r"local broker: certificate rotation refused, keeping the current "
                                  r"credentials: key \S+ does not match", scaled(15))
        d = self.work_dir
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=gw-01", "-keyout", d / "new.key", "-out", d / "new.csr")
        (d / "ext.cnf").write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n")
        openssl("x509", "-req", "-in", d / "new.csr", "-CA", self.pki.ca, "-CAkey", self.pki.dir / "ca.key",
                "-set_serial", "9", "-days", "20", "-out", d / "new.crt", "-extfile", d / "ext.cnf")
        mark = self.local.mark()
        shutil.copy(d / "new.crt", crt)
        shutil.copy(d / "new.key", key)
        self.gateway.wait_for_log(r"local broker: certificate rotation: new credentials checked", scaled(15))
        self.local.wait_for_log(r"New client connected .* u'CN=gw-01'", scaled(20), since=mark)
        status = self.collector(self.local, "gateways/gw-01/status")
        status.wait_for_message(lambda m: m.payload == b"online", scaled(10))
        self.assertTrue(self.gateway.running)


if __name__ == "__main__":
    unittest.main()
