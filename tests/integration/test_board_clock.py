#!/usr/bin/python3
"""Boards without a real-time clock: one starts at 1970 and its clock is set right after a few
seconds, one runs a day behind, one is right. Their readings carry "up" (seconds since boot); the
gateway places the untrusted ones on its own clock (marked "ts_src":"gw" in batches), rejects
none of them, keeps them in seq order and its heartbeats steady, and the audit finds nothing
missing."""

import collections
import pathlib
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import wait_until  # noqa: E402
from test_faults import BOARDS, FaultCase  # noqa: E402

HEARTBEAT = 1.0
STEP_AFTER = 5


class BoardClockTest(FaultCase):
    def test_boards_at_1970_then_stepped_and_a_day_off_deliver_everything(self):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        conf = {"cloud": {"puback_timeout": 3, "keepalive": 5}, "gateway": {"health_interval": 0.5},
                # Only the first reading and heartbeats pass: the heartbeats run on ts.
                "filter.default": {"deadband": 1e6, "heartbeat": HEARTBEAT}}
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.work_dir / "q.db", conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.rejects = self.collector(self.local, f"gateways/{self.pki.gateway_id}/rejects")
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = self.start_gateway()
        started = time.time()
        clocks = {BOARDS[0]: ["--clock-offset", -started + 1000, "--clock-step-after", STEP_AFTER],
                  BOARDS[1]: ["--clock-offset", -86400],
                  BOARDS[2]: []}
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 20,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i,
                                             *clocks[b])
                       for i, b in enumerate(BOARDS, start=1)]

        def readings():
            return fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")])
        # Past the step, with a few heartbeats after it.
        wait_until(lambda: time.time() - started > STEP_AFTER + 4 * HEARTBEAT and
                   len({r["device"] for r in readings()}) == 3, 40, "readings of every board past the step")
        report = self.finish_and_audit()
        ended = time.time()

        self.assertEqual([m.json() for m in self.rejects.messages()], [])
        self.assertEqual(report["sent"], report["delivered"] + report["filtered"], report)
        series = collections.defaultdict(list)
        for r in readings():
            series[(r["device"], r["boot"], r["sensor"])].append(r)
        for (device, _boot, sensor), rs in series.items():
            rs.sort(key=lambda r: r["seq"])
            ts = [r["ts"] for r in rs]
            # Every ts is on the gateway's clock now, the 1970 ones and the day-old ones included.
            self.assertGreaterEqual(min(ts), started - 1, (device, sensor, ts[:3]))
            self.assertLessEqual(max(ts), ended + 1, (device, sensor, ts[-3:]))
            # In seq order the times go forward (the mapping may be a transport delay early).
            for a, b in zip(ts, ts[1:]):
                self.assertGreater(b, a - 0.25, (device, sensor, a, b))
            # Heartbeats kept coming through the step, about one per HEARTBEAT: no stall, no flood.
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            self.assertLessEqual(max(gaps), HEARTBEAT + 0.6, (device, sensor, gaps))
            self.assertLessEqual(len(ts), (ended - started) / HEARTBEAT + 3, (device, sensor, len(ts)))

        # The readings whose ts the gateway computed say so ("ts_src": "gw"), through the store;
        # no other reading does: the day-off board's all, the 1970 board's up to its step, in
        # seq order, and none of the right board's.
        marked = collections.defaultdict(list)
        for r in sorted(readings(), key=lambda r: (r["device"], r["boot"], r["seq"])):
            self.assertIn(r.get("ts_src", "device"), ("gw", "device"), r)
            marked[r["device"]].append(r.get("ts_src") == "gw")
        self.assertTrue(all(marked[BOARDS[1]]), marked[BOARDS[1]])
        self.assertFalse(any(marked[BOARDS[2]]), marked[BOARDS[2]])
        stepped = marked[BOARDS[0]]
        self.assertTrue(stepped[0] and not stepped[-1], stepped)
        self.assertEqual(stepped, sorted(stepped, reverse=True), stepped)


if __name__ == "__main__":
    unittest.main()
