#!/usr/bin/python3
"""Filter rules reload on SIGHUP without losing state, the filter state survives a restart of the
gateway, the gateway's health counts every filter decision per rule, and a quiet swinging-door
series is flushed within a heartbeat."""

import pathlib
import signal
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, wait_until  # noqa: E402

DEVICE = "sensor-01"
BOOT = 7


def temperature_rule(deadband):
    return [{"name": "temperature", "match": "*/temperature", "deadband": deadband, "heartbeat": 600}]


def counters(first=0, change=0, heartbeat=0, gap=0, dropped=0):
    return {"kept_first": first, "kept_change": change, "kept_heartbeat": heartbeat, "kept_gap": gap,
            "dropped": dropped}


class FilterReloadTest(FogTestCase):
    def setUp(self):
        super().setUp()
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        self.store = self.work_dir / "queue.db"
        self.config = self.work_dir / "gateway.toml"
        self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.device = self.client(self.local, f"devices/{DEVICE}")
        self.device.subscribe(f"devices/{DEVICE}/ack")
        self.seq = 0

    def write_config(self, deadband):
        # Health only on signals (and at shutdown), so a health report after SIGHUP proves that
        # the main loop has handed the new rules to the pipeline.
        fogstack.gateway_config(self.config, self.pki, self.local, self.cloud, self.store,
                                {"gateway": {"health_interval": 3600}}, temperature_rule(deadband))

    def start_gateway(self):
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)

    def stop_gateway(self):
        """SIGTERM; returns the health report the gateway publishes as it stops."""
        seen = len(self.health.messages())
        self.assertEqual(self.gateway.stop(), 0)
        return self.health.wait_for(seen + 1)[-1].json()

    def send(self, *values):
        for v in values:
            self.seq += 1
            r = {"sensor": "temperature", "value": v, "unit": "C", "ts": time.time(), "boot": BOOT, "seq": self.seq}
            self.device.publish(f"devices/{DEVICE}/readings", r)
        seq = self.seq
        wait_until(lambda: {"boot": BOOT, "seq": seq} in [m.json() for m in self.device.messages(f"devices/{DEVICE}/ack")],
                   15, f"ack of seq {seq}")

    def cloud_readings(self):
        return [(r["seq"], r["value"]) for r in fogstack.batch_readings(self.batches.messages())]

    def wait_cloud(self, n):
        wait_until(lambda: len(self.cloud_readings()) >= n, 15, f"{n} readings in the cloud")

    def assert_filter_health(self, report, temperature):
        self.assert_schema(report, "health")
        self.assertEqual(report["filter"], {"temperature": temperature, "default": counters()})

    def test_sighup_reload_keeps_state_and_restart_keeps_state(self):
        self.write_config(0.5)
        self.start_gateway()
        # deadband 0.5: 20.0 first, 20.2 dropped, 20.7 moved 0.7, 20.9 dropped.
        self.send(20.0, 20.2, 20.7, 20.9)

        self.write_config(5)
        mark = self.gateway.mark()
        seen = len(self.health.messages())
        self.gateway.signal(signal.SIGHUP)
        self.gateway.wait_for_log(r"SIGHUP: reloading filter rules", 10, since=mark)
        self.health.wait_for(seen + 1)  # published after the rules were handed over
        # deadband 5, measured from 20.7 (the last forwarded value, not 20.0, not a fresh start):
        # 21.3 dropped (a fresh series would keep it as first), 25.6 dropped (5.6 from 20.0),
        # 25.7 moved exactly 5, 26.0 dropped.
        self.send(21.3, 25.6, 25.7, 26.0)
        self.gateway.wait_for_log(r"filter rules reloaded", 10, since=mark)
        self.wait_cloud(3)
        self.assertEqual(self.cloud_readings(), [(1, 20.0), (3, 20.7), (7, 25.7)])
        self.assert_filter_health(self.stop_gateway(), counters(first=1, change=2, dropped=5))

        # Same store, same rules: 28.0 is within 5 of 25.7, so it is dropped, not kept as a first
        # reading; 31.0 moved 5.3.
        self.start_gateway()
        self.send(28.0, 31.0)
        self.wait_cloud(4)
        final = self.stop_gateway()  # the uplink drains before it stops: nothing more can come
        self.assertEqual(self.cloud_readings(), [(1, 20.0), (3, 20.7), (7, 25.7), (10, 31.0)])
        # Counters start again with the process; the state did not.
        self.assert_filter_health(final, counters(change=1, dropped=1))
        self.assertEqual(final["counters"]["filtered"], 1)
        self.assertEqual(final["counters"]["kept"], 1)

    def test_a_refused_reload_keeps_the_running_rules(self):
        self.write_config(0.5)
        self.start_gateway()
        self.send(20.0)
        self.config.write_text(self.config.read_text().replace("deadband = 0.5", "deadband = -1"))
        mark = self.gateway.mark()
        self.gateway.signal(signal.SIGHUP)
        self.gateway.wait_for_log(r"reload refused, keeping the running configuration: .*filter\.rules\[0\]\.deadband", 10,
                                  since=mark)
        self.send(20.3, 20.6)  # still deadband 0.5: 20.3 dropped, 20.6 kept
        self.wait_cloud(2)
        self.assert_filter_health(self.stop_gateway(), counters(first=1, change=1, dropped=1))
        self.assertEqual(self.cloud_readings(), [(1, 20.0), (3, 20.6)])
        self.assertNotIn("filter rules reloaded", self.gateway.output())

    def test_a_quiet_swinging_door_series_gets_its_held_point_within_a_heartbeat(self):
        rule = [{"name": "temperature", "match": "*/temperature", "mode": "swinging_door", "deviation": 0.5,
                 "heartbeat": 2}]
        fogstack.gateway_config(self.config, self.pki, self.local, self.cloud, self.store, {}, rule)
        self.start_gateway()
        # On one line: 20.0 is kept as the first; the others are held while the line may go on.
        self.send(20.0, 20.1, 20.2, 20.3)
        held_at = time.time()
        self.wait_cloud(1)
        # Then the series goes quiet. The held point that ends the line must not wait for a next
        # reading: the gateway flushes it once the oldest held reading waited 2 s.
        self.wait_cloud(2)
        self.assertEqual(self.cloud_readings(), [(1, 20.0), (4, 20.3)])
        self.assertGreaterEqual(time.time() - held_at, 1.0)
        report = self.stop_gateway()
        self.assertEqual(report["filter"]["temperature"], counters(first=1, change=1, dropped=2))


if __name__ == "__main__":
    unittest.main()
