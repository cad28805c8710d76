"""A scripted upstream for the uplink: a TLS-terminating MQTT proxy between the gateway and the
real cloud broker that withholds chosen acknowledgements.

Toward the gateway it presents the PKI's cloud-broker certificate; toward the broker it presents
the gateway's. It reads the MQTT packets both ways and, for the batches a `withhold` rule picks,
either drops the broker's PUBACK (mode "puback": the broker has the batch, the gateway never
hears so) or drops the PUBLISH itself (mode "publish": lost on the way, so no PUBACK either).
Everything else passes byte for byte. It records when it saw each batch_id and each withheld
message, so a test can measure how long the gateway took to send it again.

Thread-safe: one accept thread and two pump threads per connection; read `events()` from the test.
"""

import json
import select
import socket
import ssl
import threading
import time

import fogtest

CONNECT, PUBLISH, PUBACK = 1, 3, 4


def _varint(buf, pos):
    """(value, next position) of an MQTT variable byte integer, or None when incomplete."""
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        b = buf[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("malformed remaining length")


def split_packets(buf):
    """Complete packets at the start of buf: ([(type, flags, body, raw bytes)], rest)."""
    out, pos = [], 0
    while pos + 2 <= len(buf):
        parsed = _varint(buf, pos + 1)
        if parsed is None:
            break
        length, body_at = parsed
        if body_at + length > len(buf):
            break
        raw = bytes(buf[pos:body_at + length])
        out.append((buf[pos] >> 4, buf[pos] & 0x0F, raw[body_at - pos:], raw))
        pos = body_at + length
    return out, buf[pos:]


def parse_publish(flags, body, mqtt5):
    """(topic, packet id or None, payload) of a PUBLISH body."""
    n = int.from_bytes(body[0:2], "big")
    topic = body[2:2 + n].decode("utf-8", "replace")
    pos, mid = 2 + n, None
    if (flags >> 1) & 3:
        mid = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
    if mqtt5:
        props, pos = _varint(body, pos)
        pos += props
    return topic, mid, body[pos:]


def _send_all(sock, data):
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            select.select([sock], [sock], [], 0.2)


class AckProxy:
    """withhold(n, topic, batch_id, conn) -> bool is asked for every QoS 1 PUBLISH the gateway
    sends (n counts them from 1 over all connections, conn counts connections from 1; batch_id
    is None for other topics). host/port: where the gateway should connect."""

    def __init__(self, pki, upstream, withhold, mode="puback"):
        if mode not in ("puback", "publish"):
            raise ValueError(mode)
        self.host, self.port = fogtest.LOOPBACK, fogtest.free_port()
        self.upstream = upstream
        self.withhold = withhold
        self.mode = mode
        self._server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_ctx.load_cert_chain(*pki.identity("cloud-broker"))
        self._server_ctx.load_verify_locations(pki.ca)
        self._server_ctx.verify_mode = ssl.CERT_REQUIRED
        self._client_ctx = ssl.create_default_context(cafile=pki.ca)
        self._client_ctx.load_cert_chain(*pki.identity("gateway"))
        self._client_ctx.check_hostname = False  # the broker's certificate is still verified
        self._lock = threading.Lock()
        self._events = []  # (time.time(), kind, detail)
        self._published = 0
        self._connections = 0
        self._sockets = []
        self._stopping = False
        self._listener = None
        self._thread = None

    # -- test side ---------------------------------------------------------------------------

    def start(self):
        self._listener = socket.create_server((self.host, self.port))
        self._thread = threading.Thread(target=self._accept, name="ackproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self._lock:
            self._stopping = True
            socks, self._sockets = self._sockets, []
        if self._listener:
            self._listener.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def write_events(self, path):
        with open(path, "w", encoding="utf-8") as f:
            for t, kind, detail in self.events():
                f.write(f"{t:.3f} {kind} {detail}\n")

    def events(self, kind=None):
        with self._lock:
            return [e for e in self._events if kind is None or e[1] == kind]

    @property
    def connections(self):
        with self._lock:
            return self._connections

    # -- proxy side --------------------------------------------------------------------------

    def _note(self, kind, detail):
        with self._lock:
            self._events.append((time.time(), kind, detail))

    def _accept(self):
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            self._note("accepted", None)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            down = self._server_ctx.wrap_socket(raw, server_side=True)
            up = self._client_ctx.wrap_socket(
                socket.create_connection((self.upstream.host, self.upstream.port), timeout=10))
            up.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            self._note("refused", repr(e))
            raw.close()
            return
        with self._lock:
            if self._stopping:
                down.close()
                up.close()
                return
            self._connections += 1
            conn = self._connections
            self._sockets += [down, up]
        state = {"mqtt5": False, "withheld": set(), "conn": conn}
        self._note("connect", conn)
        try:
            self._relay(down, up, state)
        except (OSError, ssl.SSLError, ValueError) as e:
            self._note("error", (conn, repr(e)))
        for sock in (down, up):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._note("closed", conn)

    # One thread per connection: an OpenSSL connection must not be read and written at once.
    def _relay(self, down, up, state):
        for sock in (down, up):
            sock.setblocking(False)
        route = {down: (up, self._from_gateway), up: (down, self._from_broker)}
        bufs = {down: b"", up: b""}
        while not self._stopping:
            ready, _, _ = select.select([down, up], [], [], 0.2)
            for src in ready:
                dst, decide = route[src]
                while True:
                    try:
                        data = src.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        break
                    if not data:
                        return
                    packets, bufs[src] = split_packets(bufs[src] + data)
                    out = b"".join(raw for ptype, flags, body, raw in packets
                                   if decide(state, ptype, flags, body))
                    _send_all(dst, out)

    def _from_gateway(self, state, ptype, flags, body):
        """True: forward the packet to the broker."""
        if ptype == CONNECT:
            n = int.from_bytes(body[0:2], "big")
            if len(body) <= 2 + n:
                self._note("bad-connect", body.hex())
                return True
            state["mqtt5"] = body[2 + n] == 5
            return True
        if ptype != PUBLISH or not (flags >> 1) & 3:
            return True
        topic, mid, payload = parse_publish(flags, body, state["mqtt5"])
        batch_id = None
        if topic.endswith("/batch"):
            batch_id = json.loads(payload)["batch_id"]
        with self._lock:
            self._published += 1
            n = self._published
        if not self.withhold(n, topic, batch_id, state["conn"]):
            self._note("forwarded", (topic, batch_id))
            return True
        self._note("withheld", (topic, batch_id))
        if self.mode == "publish":
            return False
        state["withheld"].add(mid)
        return True

    def _from_broker(self, state, ptype, _flags, body):
        if ptype == PUBACK:
            mid = int.from_bytes(body[0:2], "big")
            if mid in state["withheld"]:
                state["withheld"].discard(mid)
                return False
        return True
