"""MQTT clients for integration tests (part of fogtest): Client (blocking connect, subscribe
and publish with deadlines, a record of every message received) and Collector; plus the payload
helpers inflate and batch_rows. A Client's record is thread-safe; drive its calls from one thread."""

import json
import ssl
import subprocess
import threading
import time
import typing
import uuid

import paho.mqtt.client as mqtt

from fogschema import loads_strict
from fogtest_base import scaled, wait_until
from fogtest_broker import Broker


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
