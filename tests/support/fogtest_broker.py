"""Mosquitto brokers for integration tests (part of fogtest), configured from the
deploy/mosquitto templates on free loopback ports. Not thread-safe: drive a Broker from the test's
thread."""

import os
import pathlib
import re
import signal
import socket

from fogtest_base import DEFAULT_GATEWAY, LOOPBACK, MOSQUITTO_TEMPLATES, _tail, free_port, mosquitto_binary, wait_until
from fogtest_process import Process


def fill_template(template, values):
    """Replaces @NAME@ in a file's text; fails if a placeholder is left over."""
    text = pathlib.Path(template).read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise ValueError(f"{template}: no value for {', '.join(left)}")
    return text


class Broker:
    """A Mosquitto broker made from a deploy/mosquitto template, on a free loopback port.

    kind: "local" (local.conf.in: a device listener on `port`, device CA + CRL + ACL, and a
    service listener on `service_port`, service CA + CRL + ACL), "local-plain" (no TLS,
    anonymous) or "cloud" (mutual TLS, cloud.conf.in); for the last two service_port == port.
    cafile/crlfile: the service listener's (and the cloud broker's) CA and CRL, pki.ca/pki.crl
    unless given; device_cafile/device_crlfile: the device listener's, pki.device_ca/device_crl.
    The persistence directory survives restart().
    Not thread-safe: drive it from the test's thread.
    """

    KINDS = {
        "local": ("local.conf.in", "local-broker"),
        "local-plain": ("local-plain.conf.in", None),
        "cloud": ("cloud.conf.in", "cloud-broker"),
    }

    def __init__(self, kind, workdir, pki=None, port=None, gateway_id=None, server_cert=None,
                 cafile=None, verbose=False, extra_config="", name=None, crlfile=None,
                 device_cafile=None, device_crlfile=None, service_port=None):
        if kind not in self.KINDS:
            raise ValueError(f"unknown broker kind {kind!r} (one of {', '.join(self.KINDS)})")
        template, default_cert = self.KINDS[kind]
        self.kind = kind
        self.tls = default_cert is not None
        if self.tls and pki is None:
            raise ValueError(f"a {kind} broker needs a pki")
        self.pki = pki
        self.name = name or f"{kind}-broker"
        self.dir = pathlib.Path(workdir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persistence_dir = self.dir / "persistence"
        self.persistence_dir.mkdir(exist_ok=True)
        self.config_path = self.dir / "mosquitto.conf"
        self.acl_path = self.dir / "acl" if kind == "local" else None
        self.service_acl_path = self.dir / "service-acl" if kind == "local" else None
        self.host = LOOPBACK
        self._auto_port = port is None
        self.port = port or free_port()
        self.service_port = (service_port or free_port()) if kind == "local" else self.port
        self.gateway_id = gateway_id or (pki.gateway_id if pki else DEFAULT_GATEWAY)
        self._template = MOSQUITTO_TEMPLATES / template
        self._server_cert = server_cert or default_cert
        self._cafile = cafile or (pki.ca if pki else None)
        self._crlfile = crlfile or (pki.crl if pki else None)
        self._device_cafile = device_cafile or (pki.device_ca if pki else None)
        self._device_crlfile = device_crlfile or (pki.device_crl if pki else None)
        self._verbose = verbose
        self._extra = extra_config
        self.process = None

    def _template_values(self):
        """The placeholders of the template; writes the ACL files it names."""
        values = {"PORT": self.port, "BIND_ADDRESS": self.host,
                  "PERSISTENCE_DIR": self.persistence_dir}
        if self.tls:
            cert, key = self.pki.identity(self._server_cert)
            values.update(CAFILE=self._cafile, CERTFILE=cert, KEYFILE=key)
        if self.acl_path:
            values.update(ACL_FILE=self.acl_path, SERVICE_ACL_FILE=self.service_acl_path,
                          SERVICE_PORT=self.service_port, CRLFILE=self._crlfile,
                          DEVICE_CAFILE=self._device_cafile, DEVICE_CRLFILE=self._device_crlfile)
            self.acl_path.write_text(fill_template(MOSQUITTO_TEMPLATES / "local-acl.in", {}))
            self.service_acl_path.write_text(fill_template(MOSQUITTO_TEMPLATES / "local-service-acl.in",
                                                           {"GATEWAY_ID": self.gateway_id}))
        return values

    def _write_config(self):
        text = fill_template(self._template, self._template_values())
        extra = []
        if os.geteuid() == 0:
            extra.append("user root")  # as root Mosquitto would switch to a user that can't read our files
        if self._verbose:
            extra.append("log_type all")
        if self._extra:
            extra.append(self._extra)
        if extra:
            text += "\n# added by fogtest\n" + "\n".join(extra) + "\n"
        self.config_path.write_text(text)

    def start(self, timeout=10.0):
        """Starts Mosquitto and waits until its port accepts a TCP connection. Returns self."""
        for attempt in range(5):
            self._write_config()
            if self.process is None:
                self.process = Process([mosquitto_binary(), "-c", self.config_path], self.dir,
                                       name="mosquitto")
            mark = self.process.mark()
            self.process.start()
            try:
                self._wait_listening(timeout)
                return self
            except AssertionError:
                in_use = "Address already in use" in self.process.stderr()[mark[1]:]
                self.process.kill()
                if not (in_use and self._auto_port and attempt < 4):
                    raise
                self.port = free_port()  # someone took the port between free_port() and bind
                self.service_port = free_port() if self.kind == "local" else self.port
        raise AssertionError("unreachable")

    def _wait_listening(self, timeout):
        def listening():
            if not self.process.running:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n"
                                     f"{_tail(self.process.output())}")
            try:
                for port in {self.port, self.service_port}:
                    with socket.create_connection((self.host, port), timeout=0.2):
                        pass
                return True
            except OSError:
                return False

        wait_until(listening, timeout, f"{self.name} to listen on {self.host}:{self.port}/{self.service_port}")

    @property
    def pid(self):
        return self.process.pid if self.process else None

    @property
    def running(self):
        return self.process is not None and self.process.running

    def stop(self, timeout=10.0):
        """SIGTERM (Mosquitto saves its database), then SIGKILL after timeout."""
        return self.process.stop(timeout) if self.process else None

    def kill(self):
        """SIGKILL: no database save, like a crash."""
        return self.process.kill() if self.process else None

    def sigstop(self):
        self.process.sigstop()

    def sigcont(self):
        self.process.sigcont()

    def restart(self, kill=False, timeout=10.0):
        """Stops (or kills) and starts again on the same port with the same persistence."""
        if kill:
            self.kill()
        else:
            self.stop()
        self._auto_port = False  # clients know this port
        return self.start(timeout)

    def reload(self):
        """SIGHUP: Mosquitto re-reads its configuration, ACL files and CRLs."""
        self.process.signal(signal.SIGHUP)

    def port_for(self, identity):
        """The port a PKI identity connects to: boards ("devices/...") and clients without a
        certificate to the device listener, every other identity to the service listener."""
        if identity is None or str(identity).startswith("devices/"):
            return self.port
        return self.service_port

    def log(self):
        return self.process.stderr() if self.process else ""

    def mark(self):
        return self.process.mark()

    def wait_for_log(self, regex, timeout=10.0, since=None):
        return self.process.wait_for_log(regex, timeout, since=since)

    def __repr__(self):
        return f"<Broker {self.name} {self.host}:{self.port}/{self.service_port} pid={self.pid}>"
