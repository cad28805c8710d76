#!/usr/bin/python3
"""Quotas per board: a hostile board floods new series names, new boots, alerts and device health
reports while two honest boards stream. Each flood is bounded (counted rejects, suppressed
alerts and reports, a bounded number of series and boots stored) and every reading of the honest
boards arrives (audit: missing 0). A board flooding valid readings into a full store loses its own
oldest readings (gap records), not the honest boards'."""

import json
import pathlib
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import test_faults  # noqa: E402
import fogtest  # noqa: E402
from fogtest import wait_until  # noqa: E402

HONEST = ["sensor-01", "sensor-02"]
HOSTILE = "sensor-03"
MAX_SERIES = 4
MAX_BOOTS = 3
ALERTS_PER_S, ALERTS_BURST = 1, 5
HEALTH_PER_S, HEALTH_BURST = 0.5, 2
REJECTS_PER_S, REJECTS_BURST = 2, 10
FLOOD = 200
STORE_ROWS = 1500    # store.max_rows of the full-store test: a share of 500 readings per board
FLOOD_READINGS = 3000


class QuotaTest(test_faults.FaultCase):
    def start_quota_stack(self, sections=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        gw = self.pki.gateway_id
        conf = {
            "gateway": {"health_interval": 0.5},
            "validate": {"max_series_per_device": MAX_SERIES, "max_boots_per_device": MAX_BOOTS,
                         "boot_idle_s": 600, "alerts_per_s": ALERTS_PER_S,
                         "alerts_burst": ALERTS_BURST, "health_per_s": HEALTH_PER_S,
                         "health_burst": HEALTH_BURST, "rejects_per_s": REJECTS_PER_S,
                         "rejects_burst": REJECTS_BURST},
        }
        conf.update(sections or {})
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.urgent = self.collector(self.cloud, [f"fogbridge/{gw}/alerts", f"fogbridge/{gw}/devices/+/health"],
                                     clean_session=False)
        self.rejects = self.collector(self.local, f"gateways/{gw}/rejects")
        self.health = self.collector(self.local, f"gateways/{gw}/health")
        self.gateway = self.start_gateway()
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                       for i, b in enumerate(HONEST, start=1)]
        self.hostile = self.client(self.local, f"devices/{HOSTILE}")

    def counters(self):
        msgs = self.health.messages()
        return msgs[-1].json()["counters"] if msgs else {}

    def flood(self, kind, payloads):
        for p in payloads:
            self.hostile.publish(f"devices/{HOSTILE}/{kind}", json.dumps(p), wait=False)

    def send_until_forwarded(self, kind, suffix, payload):
        """Publishes payload, numbered n = 1, 2, ... in a field, about twice a second until the
        cloud has one; returns what the cloud got."""
        field = "cpu" if kind == "health" else "value"
        deadline = time.monotonic() + fogtest.scaled(20)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            self.flood(kind, [dict(payload, ts=time.time(), **{field: -n})])
            for _ in range(50):
                for m in self.urgent.messages():
                    if m.topic.endswith(suffix) and m.json().get(field) == -n:
                        return m.json()
                time.sleep(0.01)
        self.fail(f"no {kind} forwarded within the deadline")

    def test_a_hostile_board_is_bounded_and_the_honest_boards_lose_nothing(self):
        self.start_quota_stack()
        self.wait_streaming(50)
        started = time.time()
        now = time.time
        # New series names: boot 1, seq 1..FLOOD, each reading a sensor of its own.
        self.flood("readings", [{"sensor": f"flood-{i}", "value": i, "ts": now(), "boot": 1, "seq": i}
                                for i in range(1, FLOOD + 1)])
        # New boots, each with a known series.
        self.flood("readings", [{"sensor": "flood-1", "value": b, "ts": now(), "boot": b, "seq": 1}
                                for b in range(1000, 1000 + FLOOD)])
        self.flood("alerts", [{"sensor": "flood-1", "value": 99 + i, "threshold": 50, "rule": "hot",
                               "ts": now(), "boot": 1}
                              for i in range(FLOOD)])
        self.flood("health", [{"battery": i} for i in range(FLOOD)])
        flooded = time.time()

        def bounded():
            c = self.counters()
            r = c.get("rejected", {})
            return (r.get("series_limit") == FLOOD - MAX_SERIES
                    and r.get("boot_limit") == FLOOD - (MAX_BOOTS - 1)
                    and c.get("alerts") == FLOOD and c.get("device_health", 0) >= FLOOD)
        try:
            wait_until(bounded, 30, "every flooded message counted")
        except AssertionError as e:
            raise AssertionError(f"{e}; counters: {self.counters()}") from None
        c = self.counters()
        elapsed = time.time() - started
        self.wait_streaming(50)  # the honest boards go on while and after the flood

        # Alerts and health reports upstream: the burst plus the rate, the rest counted.
        sent_alerts = ALERTS_BURST + ALERTS_PER_S * elapsed + 1
        sent_health = HEALTH_BURST + HEALTH_PER_S * elapsed + 1
        self.assertGreaterEqual(c["alerts_suppressed"], FLOOD - sent_alerts, c)
        self.assertGreaterEqual(c["health_suppressed"], FLOOD - sent_health, c)
        urgent = self.urgent.messages()
        alerts = [m.json() for m in urgent if m.topic.endswith("/alerts")]
        health = [m.json() for m in urgent if m.topic.endswith(f"/devices/{HOSTILE}/health")]
        self.assertLessEqual(len(alerts), sent_alerts, alerts)
        self.assertLessEqual(len(health), sent_health, health)
        self.assertGreaterEqual(len(alerts), 1)
        # The next alert and report sent say how many were held back: sent again until a token
        # is back (each one refused is counted too).
        for kind, suffix, payload in [
                ("alerts", "/alerts", {"sensor": "flood-1", "value": 1, "threshold": 50, "rule": "hot", "boot": 1}),
                ("health", f"/devices/{HOSTILE}/health", {"battery": 1})]:
            last = self.send_until_forwarded(kind, suffix, payload)
            self.assertGreaterEqual(last.get("suppressed", 0), 1, last)

        # Rejects on the local broker: limited like any other, all counted.
        self.assertLessEqual(len(self.rejects.messages()), REJECTS_BURST + REJECTS_PER_S * (time.time() - started) + 1)
        self.assertGreater(c["rejects_suppressed"], 0, c)
        reasons = {m.json()["reason"] for m in self.rejects.messages()}
        self.assertLessEqual(reasons, {"series_limit", "boot_limit"})

        report = self.finish_and_audit()
        self.assertGreater(report["delivered"], 0)
        # What the hostile board got stored: no more series and boots than its quota.
        stored = [r for r in fogstack.batch_readings([m for m in self.received.messages()
                                                      if m.topic.endswith("/batch")])
                  if r["device"] == HOSTILE]
        self.assertLessEqual(len({r["sensor"] for r in stored}), MAX_SERIES, stored)
        self.assertLessEqual(len({r["boot"] for r in stored}), MAX_BOOTS, stored)
        self.assertLessEqual(len(stored), MAX_SERIES + MAX_BOOTS, stored)
        print(f"\nflood took {flooded - started:.1f} s; counters {c}", file=sys.stderr)

    def test_a_board_flooding_a_full_store_loses_its_own_oldest_readings(self):
        self.start_quota_stack({"store": {"max_rows": STORE_ROWS, "policy": "drop_oldest"},
                                "pipeline": {"max_group": 200}})
        self.wait_streaming(50)
        self.cloud.stop()  # everything stays in the store: it fills up

        def drops():
            msgs = self.health.messages()
            return msgs[-1].json()["queue"]["drops"]["store_full_rows"] if msgs else 0
        now = time.time
        self.flood("readings", [{"sensor": "flood", "value": i % 7 * 100.0, "ts": now(), "boot": 1, "seq": i}
                                for i in range(1, FLOOD_READINGS + 1)])
        # The honest boards hold far less than their share (they stream 25 readings a second each).
        wait_until(lambda: drops() >= FLOOD_READINGS - STORE_ROWS, 30, "the flood over the limit dropped")
        self.cloud.restart()
        self.wait_streaming(50)
        report = self.finish_and_audit()
        # No reading of the honest boards was dropped; every gap record is the flooding board's.
        self.assertEqual(report["dropped"], {}, report)
        records = [g for m in self.received.messages(f"fogbridge/{self.pki.gateway_id}/gaps")
                   for g in self.assert_schema(m.payload, "gaps")["gaps"]]
        self.assertEqual({g["device"] for g in records}, {HOSTILE}, records[:5])
        self.assertEqual(sum(g["count"] for g in records), drops())
        stored = [r for r in fogstack.batch_readings([m for m in self.received.messages()
                                                      if m.topic.endswith("/batch")])
                  if r["device"] == HOSTILE]
        self.assertEqual(len(stored) + drops(), FLOOD_READINGS)
        # Its newest readings were kept: the oldest went.
        self.assertEqual(max(r["seq"] for r in stored), FLOOD_READINGS)
        print(f"\nhostile readings dropped {drops()}, delivered {len(stored)}; {report}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
