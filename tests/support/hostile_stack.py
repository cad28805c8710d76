"""The gateway stack the hostile-input tests (test_hostile, test_hostile_broker) run against:
the real local broker (mutual TLS + ACL), a cloud broker and the gateway with small validation
limits, plus valid and hostile readings. Drive it from the test's thread."""

import json
import time

import fogstack
from fogtest import FogTestCase, wait_until

DEVICE = "sensor-01"
MAX_PAYLOAD = 4096
MAX_READINGS = 5
DAY = 86400
ABSENT = object()  # drops a field from a hostile reading
RAW = "sensor-02"  # raw connections use their own board: the broker makes a certificate's CN its client id


def valid(seq, value=None):
    """A valid reading of the series that must arrive whole: boot 7, seq 1, 2, ..."""
    return {"sensor": "temperature", "value": 20 + seq / 8 if value is None else value, "unit": "C",
            "ts": time.time(), "boot": 7, "seq": seq}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def hostile(n, **fields):
    """A reading of its own series (boot 8), so a rejected one never holds up boot 7's acks."""
    r = {"sensor": "temperature", "value": 21.5, "unit": "C", "ts": time.time(), "boot": 8, "seq": n}
    for k, v in fields.items():
        if v is ABSENT:
            r.pop(k, None)
        else:
            r[k] = v
    return r


class GatewayStack(FogTestCase):
    """start_stack() brings up both brokers, the gateway and collectors; the rest reads them."""

    def start_stack(self):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        # Alerts and health reports unlimited here: their rate limit is test_quotas' subject.
        sections = {"validate": {"max_payload_bytes": MAX_PAYLOAD, "max_readings_per_message": MAX_READINGS,
                                 "alerts_per_s": 0, "health_per_s": 0}}
        self.config = fogstack.gateway_config(self.work_dir / "gateway.toml", self.pki, self.local,
                                              self.cloud, self.work_dir / "queue.db", sections)
        self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        self.rejects = self.collector(self.local, f"gateways/{self.pki.gateway_id}/rejects")
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.device.subscribe(f"devices/{DEVICE}/ack")

    def publish(self, kind, payload):
        self.device.publish(f"devices/{DEVICE}/{kind}", payload)
        return payload

    def wait_ack(self, seq, boot=7):
        want = {"boot": boot, "seq": seq}
        wait_until(lambda: any(m.json() == want for m in self.device.messages(f"devices/{DEVICE}/ack")),
                   15, f"the ack {want}")

    def cloud_readings(self, device=DEVICE):
        return [r for r in fogstack.batch_readings(self.batches.messages()) if r["device"] == device]

    def latest_health(self):
        msgs = self.health.messages()
        return msgs[-1].json() if msgs else None

    def wait_health(self, predicate, what, timeout=15):
        def check():
            h = self.latest_health()
            return h if h and predicate(h["counters"]) else None
        return wait_until(check, timeout, f"a health report with {what}")

    def reject_messages(self):
        return [(m, self.assert_schema(m.payload, "reject")) for m in self.rejects.messages()]

    def reject_reasons(self, n):
        """The reasons of the first n rejects, once n arrived (the rejects go out after the acks)."""
        wait_until(lambda: len(self.rejects.messages()) >= n, 15, f"{n} rejects")
        return [r["reason"] for _, r in self.reject_messages()]
