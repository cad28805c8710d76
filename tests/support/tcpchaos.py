"""A TCP proxy for fault injection on one link (the chaos run puts it on the gateway's uplink).

It relays bytes as they are (TLS passes through end to end) and, on request: `partition()` stops
relaying in both directions and leaves new connections hanging (a black hole, as when a cable is
cut: nothing is refused, nothing arrives), `delay(seconds)` holds every chunk that long before
passing it on, `reset()` ends every open connection with a TCP RST; `heal()` relays normally again
(connections held during a partition are reset, as after a real outage's timeouts).

Thread-safe: one accept thread and two pump threads per connection; drive it from any thread.
"""

import select
import socket
import struct
import threading
import time

import fogtest


def _abort(sock):
    """Closes with RST rather than FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class TcpChaos:
    def __init__(self, upstream_host, upstream_port):
        self.host, self.port = fogtest.LOOPBACK, fogtest.free_port()
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._pairs = []  # [down, up] per connection
        self._partitioned = False
        self._delay = 0.0
        self._stopping = False
        self._listener = None

    def start(self):
        self._listener = socket.create_server((self.host, self.port))
        threading.Thread(target=self._accept, name="tcpchaos", daemon=True).start()
        return self

    def stop(self):
        with self._lock:
            self._stopping = True
        if self._listener:
            self._listener.close()
        self.reset()

    def partition(self):
        with self._lock:
            self._partitioned = True

    def delay(self, seconds):
        with self._lock:
            self._delay = seconds

    def reset(self):
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                if s is not None:
                    _abort(s)

    def heal(self):
        with self._lock:
            was_partitioned = self._partitioned
            self._partitioned = False
            self._delay = 0.0
        if was_partitioned:
            self.reset()

    def _state(self):
        with self._lock:
            return self._partitioned, self._delay, self._stopping

    def _accept(self):
        while True:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            pair = [down, None]
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._serve, args=(pair,), daemon=True).start()

    def _serve(self, pair):
        # A connection made during a partition hangs until it heals or is reset.
        while self._state()[0]:
            if pair not in self._live():
                return
            time.sleep(0.05)
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _abort(pair[0])
            return
        up.settimeout(None)
        pair[1] = up
        if pair not in self._live():  # reset while connecting
            _abort(up)
            return
        for src, dst in ((pair[0], up), (up, pair[0])):
            threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _live(self):
        with self._lock:
            return list(self._pairs)

    def _pump(self, pair, src, dst):
        try:
            while True:
                ready, _, _ = select.select([src], [], [], 0.2)
                if pair not in self._live():
                    return
                if not ready:
                    continue
                partitioned, delay, _ = self._state()
                if partitioned:
                    time.sleep(0.05)  # leave it unread: the sender's window fills, as on a dead link
                    continue
                data = src.recv(65536)
                if not data:
                    raise ConnectionResetError("closed")  # MQTT over TLS: one side done, both done
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: the socket was closed by reset()
            with self._lock:
                if pair in self._pairs:
                    self._pairs.remove(pair)
            for s in pair:
                if s is not None:
                    _abort(s)
