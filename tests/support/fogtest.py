"""Harness for fogbridge integration tests (unittest, run with /usr/bin/python3).

Real Mosquitto brokers on free loopback ports with configurations made from deploy/mosquitto/,
certificates from certs/make-certs.sh, programs started and stopped by PID, paho-mqtt clients
that record what they receive, bounded waits, and JSON Schema validation against schemas/.

Derive tests from FogTestCase: everything started through it is stopped in cleanup, even when
the test fails. Start processes from the test's (main) thread: children get SIGKILL when the
thread that started them exits, so an aborted test run leaves no broker behind.

Environment: FOGBRIDGE_BUILD_DIR (default build/dev, relative to the repository root),
FOGTEST_TIMEOUT_SCALE (multiplies every timeout, e.g. 5 under sanitizers), FOGTEST_KEEP=1
(keep the temporary directories and print where they are), FOGTEST_VERBOSE=1 (print the tail of
every process's log when a test finishes).
"""

import atexit
import collections
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import typing
import unittest
import uuid
import weakref

import paho.mqtt.client as mqtt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fogschema  # noqa: E402

# Re-exported: schema validation and strict JSON parsing (see fogschema.py).
validate = fogschema.validate
schema_errors = fogschema.errors
load_strict = fogschema.load_strict
loads_strict = fogschema.loads_strict

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MAKE_CERTS = REPO_ROOT / "certs" / "make-certs.sh"
MOSQUITTO_TEMPLATES = REPO_ROOT / "deploy" / "mosquitto"
DEFAULT_DEVICES = ("sensor-01", "sensor-02", "sensor-03")
DEFAULT_GATEWAY = "gw-01"
LOOPBACK = "127.0.0.1"


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "false", "no")


# Processes built with the tsan preset read their suppressions from here (exit code 66 on a report).
os.environ.setdefault("TSAN_OPTIONS", f"suppressions={REPO_ROOT / 'tests' / 'tsan.supp'}")

TIMEOUT_SCALE = float(os.environ.get("FOGTEST_TIMEOUT_SCALE", "1") or "1")
KEEP = _env_flag("FOGTEST_KEEP")
VERBOSE = _env_flag("FOGTEST_VERBOSE")


def scaled(seconds):
    """A timeout adjusted by FOGTEST_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def build_dir():
    """The build directory: $FOGBRIDGE_BUILD_DIR, relative paths taken from the repository root."""
    path = pathlib.Path(os.environ.get("FOGBRIDGE_BUILD_DIR", "build/dev"))
    return path if path.is_absolute() else REPO_ROOT / path


def build_path(*parts):
    return build_dir().joinpath(*parts)


def executable(*parts):
    """Path of a built program (e.g. executable("gateway", "fogbridge")); fails clearly if missing."""
    path = build_path(*parts)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{path} is not a built executable (build first, or set FOGBRIDGE_BUILD_DIR)")
    return str(path)


def mosquitto_binary():
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        raise FileNotFoundError("mosquitto not found (install the mosquitto package)")
    return found


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, what="the condition", interval=0.01):
    """Polls predicate until it returns something truthy and returns that; raises AssertionError
    naming `what` after timeout seconds (scaled by FOGTEST_TIMEOUT_SCALE)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {scaled(timeout):g}s waiting for {what}")
        time.sleep(interval)


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# PKI


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


# --------------------------------------------------------------------------------------------
# Processes

_live_processes = weakref.WeakSet()


@atexit.register
def _kill_leftovers():
    for proc in list(_live_processes):
        proc.kill()


_SETPRIV = shutil.which("setpriv")


def _proc_state(pid):
    """The state letter from /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' zombie ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


class Process:
    """One program run with stdout/stderr captured to files; stopped by PID.

    Not thread-safe: drive it from the test's thread.
    """

    _names = collections.Counter()

    def __init__(self, args, log_dir, name=None, env=None, cwd=None):
        self.args = [str(a) for a in args]
        base = name or pathlib.Path(self.args[0]).name
        Process._names[base] += 1
        self.name = base if Process._names[base] == 1 else f"{base}-{Process._names[base]}"
        self.log_dir = pathlib.Path(log_dir)
        self.stdout_path = self.log_dir / f"{self.name}.stdout"
        self.stderr_path = self.log_dir / f"{self.name}.stderr"
        self.env = None if env is None else {**os.environ, **{k: str(v) for k, v in env.items()}}
        self.cwd = cwd
        self.popen = None
        self._files = []

    # -- lifecycle

    def start(self):
        """Starts the program (again, after a stop: the logs are appended to). Returns self."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._close_files()
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        self._files = [out, err]
        # setpriv keeps the PID (it execs) and makes the kernel kill the child with the harness.
        wrapper = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
        self.popen = subprocess.Popen(wrapper + self.args, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=err, env=self.env, cwd=self.cwd, start_new_session=True)
        _live_processes.add(self)
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self):
        """None while running; negative -N when killed by signal N (Popen's convention)."""
        return self.popen.poll() if self.popen else None

    def signal(self, sig):
        if self.running:
            os.kill(self.popen.pid, sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code. Safe to repeat."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGCONT)  # a stopped process only acts on SIGTERM once continued
            try:
                self.popen.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._close_files()
        _live_processes.discard(self)
        return self.popen.returncode

    def kill(self):
        """SIGKILL and reap. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._close_files()
        _live_processes.discard(self)
        return self.popen.returncode

    def sigstop(self):
        """Freezes the process and waits until the kernel reports it stopped."""
        self.signal(signal.SIGSTOP)
        wait_until(lambda: _proc_state(self.pid) == "T", 5, f"{self.name} to be stopped")

    def sigcont(self):
        self.signal(signal.SIGCONT)
        wait_until(lambda: _proc_state(self.pid) != "T", 5, f"{self.name} to continue")

    @property
    def stopped(self):
        """True while frozen by SIGSTOP."""
        return self.running and _proc_state(self.pid) == "T"

    def wait(self, timeout=10.0):
        """Waits for the process to exit by itself; returns the exit code."""
        try:
            code = self.popen.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {scaled(timeout):g}s\n"
                                 f"{_tail(self.output())}") from None
        self._close_files()
        _live_processes.discard(self)
        return code

    def _close_files(self):
        for f in self._files:
            f.close()
        self._files = []

    # -- output

    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def output(self):
        """stdout then stderr."""
        return self.stdout() + self.stderr()

    def mark(self):
        """A position in the logs; pass it as since= to wait_for_log to skip what came before."""
        return (len(self.stdout()), len(self.stderr()))

    def wait_for_log(self, regex, timeout=10.0, since=None, stream="both"):
        """Waits until regex (re.MULTILINE) matches stdout or stderr ("stdout", "stderr", "both")
        after position since; returns the match. Fails at once if the process has exited."""
        pattern = re.compile(regex, re.MULTILINE)
        since = since or (0, 0)

        def search():
            texts = []
            if stream in ("stdout", "both"):
                texts.append(self.stdout()[since[0]:])
            if stream in ("stderr", "both"):
                texts.append(self.stderr()[since[1]:])
            for text in texts:
                m = pattern.search(text)
                if m:
                    return m
            return None

        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = search()
            if m:
                return m
            if not self.running:
                m = search()  # the last words may have landed after the previous look
                if m:
                    return m
                raise AssertionError(f"{self.name} exited ({self.returncode}) without logging "
                                     f"/{regex}/:\n{_tail(self.output())}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {scaled(timeout):g}s waiting for {self.name} "
                                     f"to log /{regex}/:\n{_tail(self.output())}")
            time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# Brokers


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


# --------------------------------------------------------------------------------------------
# MQTT clients


class ConnectFailed(Exception):
    """The broker (or TLS) refused the connection, or no CONNACK came in time."""


class Message(typing.NamedTuple):
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def text(self):
        return self.payload.decode("utf-8")

    def json(self):
        """The payload parsed as strict JSON (no NaN, no duplicate keys), a zstd frame inflated."""
        return loads_strict(inflate(self.payload).decode("utf-8"))


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def inflate(payload):
    """A zstd frame (told by its magic bytes) inflated by the zstd command; other bytes as they are."""
    if not payload.startswith(ZSTD_MAGIC):
        return payload
    return subprocess.run(["zstd", "-d", "-q", "-c"], input=payload, capture_output=True, check=True).stdout


def batch_rows(body):
    """The readings of a batch body as row objects, whichever its layout (rows or columnar)."""
    if "series" not in body:
        return body["readings"]
    assert body.get("layout_version", 1) in (1, 2), f"unknown layout_version {body['layout_version']}"
    rows = []
    for s in body["series"]:
        seq, ms = 0, 0
        gw = s.get("ts_gw", [])  # layout_version 2: true for every reading of the series
        gw = set(range(len(s["value"]))) if gw is True else set(gw)
        head = {k: s[k] for k in ("device", "sensor", "boot", "unit") if k in s}
        for i, value in enumerate(s["value"]):
            seq += s["seq"][i]
            if "ts" in s:
                ms += s["ts"][i]
            r = dict(head, value=value, ts=ms / 1000 if "ts" in s else s["ts_s"][i], seq=seq)
            if i in gw:
                r["ts_src"] = "gw"
            rows.append(r)
    return rows


class _PahoClient(mqtt.Client):
    """paho 1.6 lets a TLS alert on an open connection (e.g. "certificate required" under
    TLS 1.3) escape its network thread, which then dies silently. Turn it into a lost
    connection, which paho reports and recovers from."""

    last_tls_error = None

    def _sock_recv(self, bufsize):
        try:
            return super()._sock_recv(bufsize)
        except ssl.SSLError as e:
            self.last_tls_error = str(e)
            raise ConnectionResetError(str(e)) from e

    def _sock_send(self, buf):
        try:
            return super()._sock_send(buf)
        except ssl.SSLError as e:
            self.last_tls_error = str(e)
            raise ConnectionResetError(str(e)) from e


class _TrackingContext(ssl.SSLContext):
    """Remembers the last socket it wrapped, so a failed handshake inside paho's connect()
    (which drops the socket without closing it) can be closed by us."""

    last_socket = None

    def wrap_socket(self, *args, **kwargs):
        self.last_socket = super().wrap_socket(*args, **kwargs)
        return self.last_socket


def _as_list(topics):
    return [topics] if isinstance(topics, str) else list(topics)


def _broker_id(cert, device_listener):
    """What local.conf.in makes a certificate's client id: its CN on the device listener, its
    subject in RFC 2253 form (last RDN first) on the service listener."""
    subject = ssl._ssl._test_decode_cert(cert)["subject"]  # ((("commonName", "x"),), ...)
    short = {"commonName": "CN", "organizationalUnitName": "OU", "organizationName": "O"}
    rdns = [(short.get(k, k), v) for rdn in subject for k, v in rdn]
    if device_listener:
        return next(v for k, v in rdns if k == "CN")
    return ",".join(f"{k}={v}" for k, v in reversed(rdns))


class Client:
    """A paho-mqtt client for tests: TLS from the broker's PKI, blocking connect/subscribe/
    publish with deadlines, and a thread-safe record of every message received. Reconnects by
    itself after a lost connection (once it has connected). Use as a context manager, or close().

    target: a Broker, or (host, port) with tls/ca given explicitly.
    identity: a PKI name such as "devices/sensor-01", "gateway", "observer", "bad/expired-client";
    or cert=/key= paths. No identity means no client certificate. On a local broker a board
    connects to its device listener, any other identity to its service listener (port= chooses),
    and "observer" uses a certificate of its own per client id (Pki.observer_copy), since the
    broker makes the certificate's subject the client id.
    """

    def __init__(self, target, identity=None, *, cert=None, key=None, ca=None, tls=None,
                 client_id=None, clean_session=True, protocol=mqtt.MQTTv311, keepalive=30,
                 verify_hostname=True, port=None):
        self.client_id = client_id or f"fogtest-{uuid.uuid4().hex[:12]}"
        if isinstance(target, Broker):
            self.host, self.port = target.host, port or target.port_for(identity)
            tls = target.tls if tls is None else tls
            pki = target.pki
        else:
            self.host, self.port = target
            pki = None
        if identity is not None:
            if pki is None:
                raise ValueError("identity needs a Broker with a pki; pass cert= and key= instead")
            if identity == "observer" and isinstance(target, Broker) and target.kind == "local":
                cert, key = pki.observer_copy(self.client_id)
            else:
                cert, key = pki.identity(identity)
        # The id the broker knows this client by: the local broker replaces the client id with the
        # certificate's CN (device listener) or its whole subject (service listener).
        self.broker_id = self.client_id
        if cert and isinstance(target, Broker) and target.kind == "local":
            self.broker_id = _broker_id(cert, self.port == target.port)
        self.keepalive = keepalive
        self.protocol = protocol
        self.clean_session = clean_session
        v5 = protocol == mqtt.MQTTv5
        self._mqtt = _PahoClient(client_id=self.client_id, protocol=protocol,
                                 clean_session=None if v5 else clean_session)
        if tls:
            context = _TrackingContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(ca or (pki.ca if pki else None))
            context.check_hostname = verify_hostname
            if cert:
                context.load_cert_chain(cert, key)
            self._mqtt.tls_set_context(context)
        self._context = context if tls else None
        self._mqtt.reconnect_delay_set(min_delay=0.05, max_delay=0.5)
        self._mqtt.max_inflight_messages_set(1000)
        self._mqtt.on_connect = self._on_connect
        self._mqtt.on_disconnect = self._on_disconnect
        self._mqtt.on_message = self._on_message
        self._mqtt.on_subscribe = self._on_subscribe
        self._cond = threading.Condition()
        self._messages = []
        self._connack = None  # rc of the latest CONNACK
        self._connected = False
        self._session_present = False
        self._connects = 0
        self._disconnects = 0
        self._suback = {}
        self._looping = False

    # -- paho callbacks (network thread)

    def _on_connect(self, _client, _userdata, flags, rc, _properties=None):
        rc = rc.value if hasattr(rc, "value") else rc
        with self._cond:
            self._connack = rc
            self._connected = rc == 0
            self._session_present = bool(flags.get("session present"))
            if rc == 0:
                self._connects += 1
            self._cond.notify_all()
        if rc == 0:
            self._after_connect(self._session_present)

    def _after_connect(self, session_present):
        pass

    def _on_disconnect(self, _client, _userdata, _rc, _properties=None):
        with self._cond:
            self._connected = False
            self._disconnects += 1
            self._cond.notify_all()

    def _on_message(self, _client, _userdata, msg):
        with self._cond:
            self._messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))
            self._cond.notify_all()

    def _on_subscribe(self, _client, _userdata, mid, granted, _properties=None):
        codes = [g.value if hasattr(g, "value") else g for g in granted]
        with self._cond:
            self._suback[mid] = codes
            self._cond.notify_all()

    # -- connection

    def connect(self, timeout=10.0):
        """Connects and waits for CONNACK; raises ConnectFailed with the reason. Returns self."""
        self._mqtt._connect_timeout = scaled(timeout)  # paho 1.6 has no setter for the TCP/TLS timeout
        with self._cond:
            self._connack = None
            disconnects = self._disconnects
        kwargs = {}
        if self.protocol == mqtt.MQTTv5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties
            kwargs["clean_start"] = self.clean_session
            if not self.clean_session:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 0xFFFFFFFF
                kwargs["properties"] = props
        try:
            self._mqtt.connect(self.host, self.port, self.keepalive, **kwargs)
        except (OSError, ValueError) as e:
            if self._context and self._context.last_socket:
                self._context.last_socket.close()
            raise ConnectFailed(f"{self.host}:{self.port}: {type(e).__name__}: {e}") from e
        self._mqtt.loop_start()
        self._looping = True
        deadline = time.monotonic() + scaled(timeout)
        with self._cond:
            while self._connack is None and self._disconnects == disconnects:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            connack, lost = self._connack, self._disconnects != disconnects
        if connack == 0:
            return self
        self.close()
        if connack is not None:
            raise ConnectFailed(f"{self.host}:{self.port}: refused: {mqtt.connack_string(connack)} ({connack})")
        if lost:
            why = self._mqtt.last_tls_error or "connection closed"
            raise ConnectFailed(f"{self.host}:{self.port}: lost before CONNACK: {why}")
        raise ConnectFailed(f"{self.host}:{self.port}: no CONNACK within {scaled(timeout):g}s")

    @property
    def connected(self):
        with self._cond:
            return self._connected

    @property
    def session_present(self):
        with self._cond:
            return self._session_present

    @property
    def connects(self):
        """How many CONNACKs with success arrived (reconnects included)."""
        with self._cond:
            return self._connects

    def wait_connected(self, timeout=10.0, after=0):
        """Waits until connected with more than `after` successful connects in total."""
        wait_until(lambda: self.connected and self.connects > after, timeout,
                   f"{self.client_id} to (re)connect to {self.host}:{self.port}")

    def close(self):
        """Disconnects and stops the network thread. Safe to repeat."""
        if self._looping:
            try:
                self._mqtt.disconnect()
            except Exception:  # noqa: BLE001 - closing after the socket broke is fine
                pass
            self._mqtt.loop_stop()
            self._looping = False
        sock = self._mqtt.socket()
        if sock is not None:
            sock.close()  # paho leaves it open after a disconnect
        with self._cond:
            self._connected = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- traffic

    def subscribe(self, topics, qos=1, timeout=10.0):
        """Subscribes and waits for the SUBACK; raises AssertionError if the broker refused a
        topic (0x80). Returns the granted QoS list."""
        topics = _as_list(topics)
        rc, mid = self._mqtt.subscribe([(t, qos) for t in topics])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"subscribe {topics} failed: {mqtt.error_string(rc)}")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._suback, scaled(timeout)):
                raise AssertionError(f"no SUBACK for {topics} within {scaled(timeout):g}s")
            codes = self._suback.pop(mid)
        refused = [t for t, c in zip(topics, codes) if c >= 0x80]
        if refused:
            raise AssertionError(f"broker refused subscription to {refused} (codes {codes})")
        return codes

    def publish(self, topic, payload, qos=1, retain=False, wait=True, timeout=10.0):
        """Publishes; for QoS > 0 with wait=True, waits for the broker's acknowledgement.
        payload: bytes, str, or anything else (sent as compact JSON). Returns paho's info."""
        if not isinstance(payload, (bytes, bytearray, str)):
            payload = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        info = self._mqtt.publish(topic, payload, qos=qos, retain=retain)
        if wait and qos > 0:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise AssertionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
            info.wait_for_publish(scaled(timeout))
            if not info.is_published():
                raise AssertionError(f"no acknowledgement for publish to {topic} within {scaled(timeout):g}s")
        return info

    def messages(self, topic=None):
        """A snapshot of the messages received so far, optionally only those matching a topic
        filter (MQTT wildcards allowed)."""
        with self._cond:
            msgs = list(self._messages)
        return [m for m in msgs if topic is None or mqtt.topic_matches_sub(topic, m.topic)]

    def clear(self):
        with self._cond:
            self._messages.clear()

    def wait_for(self, count_or_predicate, timeout=10.0, topic=None, what=None):
        """Waits until at least N messages (matching topic, if given) have arrived and returns
        them; or, given a predicate, until predicate(messages) is truthy and returns its value."""
        if callable(count_or_predicate):
            check = count_or_predicate
            what = what or "the messages to satisfy the predicate"
        else:
            n = count_or_predicate
            check = lambda msgs: msgs if len(msgs) >= n else None  # noqa: E731
            what = what or f"{n} message(s)" + (f" on {topic}" if topic else "")
        deadline = time.monotonic() + scaled(timeout)
        with self._cond:
            while True:
                msgs = [m for m in self._messages if topic is None or mqtt.topic_matches_sub(topic, m.topic)]
                value = check(msgs)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    got = ", ".join(f"{m.topic}={m.payload[:60]!r}" for m in msgs[-10:])
                    raise AssertionError(f"timed out after {scaled(timeout):g}s waiting for {what}; "
                                         f"have {len(msgs)}: {got}")
                self._cond.wait(left)

    def wait_for_message(self, match, timeout=10.0):
        """The first message whose topic matches the filter `match` (str) or for which
        match(message) is truthy."""
        pred = (lambda m: mqtt.topic_matches_sub(match, m.topic)) if isinstance(match, str) else match
        what = f"a message on {match}" if isinstance(match, str) else "a matching message"
        return self.wait_for(lambda msgs: next((m for m in msgs if pred(m)), None), timeout, what=what)


class Collector(Client):
    """A Client that subscribes to topics on every connect (unless the broker kept the session)
    and records what arrives. start() connects and waits for the SUBACK."""

    def __init__(self, target, topics, identity=None, qos=1, **kwargs):
        super().__init__(target, identity, **kwargs)
        self.topics = _as_list(topics)
        self.qos = qos
        self._subscribed = threading.Event()
        self._sub_error = None

    def _after_connect(self, session_present):
        if session_present:
            self._subscribed.set()
            return
        # Runs on paho's thread: ask, and let the SUBACK callback report.
        rc, mid = self._mqtt.subscribe([(t, self.qos) for t in self.topics])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._sub_error = mqtt.error_string(rc)
            self._subscribed.set()
        else:
            self._sub_mid = mid

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        if mid == getattr(self, "_sub_mid", None):
            codes = [g.value if hasattr(g, "value") else g for g in granted]
            if any(c >= 0x80 for c in codes):
                self._sub_error = f"broker refused subscription to {self.topics} (codes {codes})"
            self._subscribed.set()
            return
        super()._on_subscribe(client, userdata, mid, granted, properties)

    def start(self, timeout=10.0):
        """Connects, waits for the subscription to be granted. Returns self."""
        self._subscribed.clear()
        self.connect(timeout)
        if not self._subscribed.wait(scaled(timeout)):
            self.close()
            raise AssertionError(f"no SUBACK for {self.topics} within {scaled(timeout):g}s")
        if self._sub_error:
            self.close()
            raise AssertionError(self._sub_error)
        return self


# --------------------------------------------------------------------------------------------
# Test case base


class FogTestCase(unittest.TestCase):
    """Base class: a PKI per test class, a work directory per test, and helpers that start
    brokers, processes and clients and register their cleanup (LIFO: clients close before
    brokers stop), so nothing outlives a test even when it fails."""

    devices = DEFAULT_DEVICES
    gateway_id = DEFAULT_GATEWAY

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"fogtest-{cls.__name__}-"))
        cls.pki = make_pki(cls.class_dir / "pki", cls.devices, cls.gateway_id)

    @classmethod
    def tearDownClass(cls):
        if KEEP:
            print(f"\nfogtest: kept {cls.class_dir}", file=sys.stderr)
        else:
            shutil.rmtree(cls.class_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.work_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self._testMethodName}-", dir=self.class_dir))
        self._processes = []
        if VERBOSE:
            self.addCleanup(self._print_logs)

    def _print_logs(self):
        for proc in self._processes:
            print(f"\n--- {proc.name} ({self.id()}) ---\n{_tail(proc.output(), 60)}", file=sys.stderr)

    def start_broker(self, kind="local", **kwargs):
        """A started Broker (see Broker for the arguments), stopped at cleanup."""
        broker = Broker(kind, self.work_dir, pki=self.pki, **kwargs)
        self.addCleanup(broker.kill)  # registered first, so it runs after stop()
        self.addCleanup(broker.stop)
        broker.start()
        self._processes.append(broker.process)
        return broker

    def start_process(self, args, name=None, env=None, cwd=None):
        """A started Process, stopped (SIGTERM, then SIGKILL) at cleanup."""
        proc = Process(args, self.work_dir, name=name, env=env, cwd=cwd)
        self.addCleanup(proc.kill)
        self.addCleanup(proc.stop)
        proc.start()
        self._processes.append(proc)
        return proc

    def client(self, broker, identity=None, **kwargs):
        """A connected Client, closed at cleanup."""
        c = Client(broker, identity, **kwargs)
        self.addCleanup(c.close)
        return c.connect()

    def collector(self, broker, topics, identity="observer", **kwargs):
        """A started Collector (default identity: the read-only observer), closed at cleanup."""
        c = Collector(broker, topics, identity, **kwargs)
        self.addCleanup(c.close)
        return c.start()

    def assert_schema(self, instance, schema_name):
        """validate() as a test assertion; returns the parsed instance."""
        return validate(instance, schema_name)
