"""Certificates for integration tests (part of fogtest): a Pki made by certs/make-certs.sh,
cached per directory. make_pki and Pki.observer_copy are thread-safe (locks)."""

import os
import pathlib
import re
import subprocess
import threading
import uuid

from fogtest_base import DEFAULT_DEVICES, DEFAULT_GATEWAY, MAKE_CERTS, scaled


class Pki:
    """Paths into a directory made by certs/make-certs.sh.

    Two CAs issue what is meant to be used: the service CA (service_ca: brokers, gateway,
    observer) and the device CA (device_ca: boards); the negative-test certificates under bad/
    come from a CA of their own. `ca` is what tests trust by default: the service CA followed by
    the negative-test CA (bad/trust.pem), so a bad certificate fails in its stated way rather than
    as unknown; `crl` holds both CAs' CRLs. Brokers made for a test of the shipped trust use
    service_ca/service_crl and device_ca/device_crl alone."""

    def __init__(self, directory, devices, gateway_id):
        self.dir = pathlib.Path(directory)
        self.devices = tuple(devices)
        self.gateway_id = gateway_id
        self.ca = str(self.dir / "bad" / "trust.pem")
        self.crl = str(self.dir / "bad" / "trust.crl")
        self.service_ca = str(self.dir / "ca.crt")
        self.service_crl = str(self.dir / "ca.crl")
        self.device_ca = str(self.dir / "device-ca.crt")
        self.device_crl = str(self.dir / "device-ca.crl")
        self._lock = threading.Lock()

    def identity(self, name):
        """(cert, key) for a name relative to the PKI: "gateway", "observer", "local-broker",
        "cloud-broker", "devices/<id>", "bad/expired-client", "bad/mismatched", ..."""
        crt, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        if not crt.is_file() or not key.is_file():
            raise FileNotFoundError(f"no certificate/key pair named {name!r} in {self.dir}")
        return str(crt), str(key)

    def device(self, device_id):
        return self.identity(f"devices/{device_id}")

    @property
    def gateway(self):
        return self.identity("gateway")

    @property
    def observer(self):
        return self.identity("observer")

    def bad(self, name):
        return self.identity(f"bad/{name}")

    def observer_copy(self, tag):
        """(cert, key) of an extra observer certificate from the service CA, subject
        "CN=observer,OU=<tag>" (made once per tag). The local broker makes a certificate's subject
        its client id, so each test client that watches it needs a certificate of its own."""
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", tag)[:60]
        base = self.dir / "observers" / tag
        with self._lock:
            if not base.with_suffix(".crt").is_file():
                base.parent.mkdir(mode=0o700, exist_ok=True)
                run = lambda *a: subprocess.run(["openssl", *map(str, a)], check=True,  # noqa: E731
                                                capture_output=True, timeout=scaled(30))
                run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{base}.key", "-out", f"{base}.csr", "-subj", f"/CN=observer/OU={tag}")
                ext = base.with_suffix(".ext")
                ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")
                run("x509", "-req", "-in", f"{base}.csr", "-CA", self.service_ca, "-CAkey", self.dir / "ca.key",
                    "-set_serial", str(int(uuid.uuid4().hex[:15], 16)), "-days", "30", "-extfile", ext,
                    "-out", f"{base}.tmp")
                os.replace(f"{base}.tmp", f"{base}.crt")
        return str(base.with_suffix(".crt")), str(base.with_suffix(".key"))


_pki_cache = {}
_pki_lock = threading.Lock()


def make_pki(directory, devices=DEFAULT_DEVICES, gateway_id=DEFAULT_GATEWAY, options=()):
    """Runs certs/make-certs.sh into directory once (cached; --if-missing) and returns a Pki.
    options: more make-certs.sh arguments, e.g. ("--encrypt-gateway-key", passphrase_file)."""
    directory = pathlib.Path(directory).resolve()
    key = (directory, tuple(devices), gateway_id, tuple(options))
    with _pki_lock:
        if key in _pki_cache:
            return _pki_cache[key]
        cmd = [str(MAKE_CERTS), "--out", str(directory), "--devices", " ".join(devices),
               "--gateway", gateway_id, "--if-missing", *map(str, options)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(60))
        if done.returncode != 0:
            raise RuntimeError(f"make-certs.sh failed ({done.returncode}): {done.stderr.strip()}")
        pki = Pki(directory, devices, gateway_id)
        for name in ["gateway", "observer"] + [f"devices/{d}" for d in devices]:
            pki.identity(name)  # an older PKI in the same directory may lack a device
        _pki_cache[key] = pki
        return pki
