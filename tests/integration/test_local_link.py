#!/usr/bin/python3
"""The gateway's own MQTT client on the local broker: a connection that goes silent is dropped
after the keepalive and made again, and a broker certificate that fails a check is refused with
one line saying which."""

import pathlib
import select
import socket
import sys
import threading
import time
import types
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import LOOPBACK, FogTestCase, free_port, wait_until  # noqa: E402

DEVICE = "sensor-01"


class FreezingProxy:
    """A TCP proxy to a broker whose existing connections can be frozen: bytes stop flowing both
    ways but the sockets stay open, as on a half-open link. New connections flow normally. A real
    broker cannot be made to fall silent on one connection only."""

    def __init__(self, target_host, target_port):
        self.host, self.port = LOOPBACK, free_port()
        self._target = (target_host, target_port)
        self._listener = socket.create_server((self.host, self.port))
        self._lock = threading.Lock()
        self._pairs = []  # (client socket, broker socket, frozen event)
        self._closing = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            broker = socket.create_connection(self._target)
            frozen = threading.Event()
            with self._lock:
                self._pairs.append((client, broker, frozen))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, broker, frozen), daemon=True).start()

    def _pump(self, client, broker, frozen):
        peer = {client: broker, broker: client}
        while not self._closing.is_set():
            if frozen.is_set():
                time.sleep(0.05)
                continue
            readable, _, _ = select.select([client, broker], [], [], 0.05)
            for s in readable:
                try:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peer[s].sendall(data)
                except OSError:
                    client.close()
                    broker.close()
                    return

    def freeze_existing(self):
        with self._lock:
            for _, _, frozen in self._pairs:
                frozen.set()

    def close(self):
        self._closing.set()
        self._listener.close()
        with self._lock:
            for client, broker, _ in self._pairs:
                client.close()
                broker.close()


class LocalLinkCase(FogTestCase):
    def start_gateway(self, local_endpoint, keepalive=5):
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, local_endpoint, self.cloud,
                                              self.work_dir / "q.db", {"local": {"keepalive": keepalive}})
        self.gateway = fogstack.start_gateway(self, self.config)

    def wait_ack(self, device, seq, timeout=15):
        def acked():
            return any(m.json() == {"boot": 1, "seq": seq} for m in device.messages(f"devices/{DEVICE}/ack"))
        wait_until(acked, timeout, f"ack of seq {seq}")

    def publish_reading(self, device, seq):
        device.publish(f"devices/{DEVICE}/readings",
                       {"sensor": "temperature", "value": 20.5, "unit": "C", "ts": time.time(), "boot": 1, "seq": seq})


class SilentBrokerTest(LocalLinkCase):
    def test_a_connection_gone_silent_is_dropped_after_the_keepalive_and_made_again(self):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        proxy = FreezingProxy(self.local.host, self.local.service_port)
        self.addCleanup(proxy.close)
        status = self.collector(self.local, f"gateways/{self.pki.gateway_id}/status")
        self.start_gateway(types.SimpleNamespace(host=proxy.host, port=proxy.port), keepalive=5)
        status.wait_for_message(lambda m: m.payload == b"online", 15)
        device = self.client(self.local, f"devices/{DEVICE}")
        device.subscribe(f"devices/{DEVICE}/ack")
        self.publish_reading(device, 1)
        self.wait_ack(device, 1)

        mark = self.gateway.mark()
        proxy.freeze_existing()  # the gateway keeps publishing health; nothing comes back
        self.gateway.wait_for_log(r"local broker [\d.]+:\d+: no answer to a ping within the keepalive; "
                                  r"reconnecting", 30, since=mark)
        wait_until(lambda: proxy.connections >= 2, 10, "a second connection")
        wait_until(lambda: sum(m.payload == b"online" for m in status.messages()) >= 2, 15, "online again")
        self.publish_reading(device, 2)
        self.wait_ack(device, 2)


class LocalBrokerCertificateTest(LocalLinkCase):
    def test_a_local_broker_certificate_for_another_host_is_refused_with_the_check(self):
        self.local = self.start_broker("local", server_cert="bad/wrong-host-server")
        self.cloud = self.start_broker("cloud")
        self.start_gateway(self.local)
        self.gateway.wait_for_log(r"local broker [\d.]+:\d+: TLS handshake failed: the broker's certificate: "
                                  r"IP address mismatch; reconnecting", 15)
        self.assertTrue(self.gateway.running)


if __name__ == "__main__":
    unittest.main()
