#!/usr/bin/python3
"""Replay after an outage (labels `integration`, `fault`): while the cloud broker is down the store
builds a backlog; when it returns, live readings go up at once in batches without the replay tag,
and the backlog trickles beside them in batches tagged "replay": true at batch.replay_rate; at the
end the audit finds nothing missing."""

import pathlib
import sys
import threading
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogtest  # noqa: E402
import test_faults  # noqa: E402  (a module import: unittest must not collect FaultTest here)
from fogtest import wait_until  # noqa: E402

REPLAY_RATE = 60  # readings/s; the three boards store about 75/s
OUTAGE_READINGS = 1200


class TimedCollector(fogtest.Collector):
    """A Collector that also notes the wall time each message arrived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._arrivals_lock = threading.Lock()
        self._arrivals = []

    def _on_message(self, client, userdata, msg):
        with self._arrivals_lock:
            self._arrivals.append((time.time(), msg.topic, bytes(msg.payload)))
        super()._on_message(client, userdata, msg)

    def arrivals(self):
        """[(arrival time, parsed batch)] of every batch so far."""
        with self._arrivals_lock:
            got = list(self._arrivals)
        return [(t, fogtest.loads_strict(fogtest.inflate(p).decode())) for t, topic, p in got if topic.endswith("/batch")]


class ReplayTest(test_faults.FaultCase):
    def last_health(self):
        msgs = self.health.messages()
        return msgs[-1].json() if msgs else None

    def test_live_first_and_the_backlog_at_its_pace_after_an_outage(self):
        self.start_stack({"batch": {"replay_rate": REPLAY_RATE}, "cloud": {"window": 8}})
        timed = TimedCollector(self.cloud, ["fogbridge/+/batch"], "observer", clean_session=False)
        self.addCleanup(timed.close)
        timed.start()
        self.wait_streaming()

        self.cloud.stop()
        wait_until(lambda: (self.last_health() or {}).get("queue", {}).get("readings", 0) >= OUTAGE_READINGS, 60,
                   f"a backlog of {OUTAGE_READINGS} readings")
        mark = self.gateway.mark()
        self.cloud.restart()
        back = time.time()
        found = self.gateway.wait_for_log(r"(\d+) readings stored before this connection drain as replay "
                                          rf"at {REPLAY_RATE} readings/s", 30, since=mark)
        backlog = int(found.group(1))
        self.assertGreaterEqual(backlog, OUTAGE_READINGS)

        def after_back():
            return [(t, b) for t, b in timed.arrivals() if t >= back]

        def fresh_live(batches):
            # Leased after the reconnect (a re-sent batch keeps its old `created`), not replay.
            return [(t, b) for t, b in batches if not b["replay"] and b["created"] >= back and fogtest.batch_rows(b)]

        # Live readings arrive promptly, although the backlog is far from drained.
        wait_until(lambda: fresh_live(after_back()), 15, "a live batch after the reconnect")
        wait_until(lambda: self.last_health()["queue"]["replay_readings"] > 0, 10,
                   "the health report to show the replay backlog")

        def replayed():
            return sum(len(fogtest.batch_rows(b)) for _, b in after_back() if b["replay"])
        wait_until(lambda: replayed() >= backlog, 3 * backlog / REPLAY_RATE + 30, "the whole backlog replayed")
        wait_until(lambda: self.last_health()["queue"]["replay_readings"] == 0, 10, "no replay readings left")
        batches = after_back()
        replay = [(t, b) for t, b in batches if b["replay"]]
        live = fresh_live(batches)

        # Replay batches carry what was stored before the reconnect, about one second's worth each.
        for _, b in replay:
            self.assertLessEqual(len(fogtest.batch_rows(b)), REPLAY_RATE, b["batch_id"])
            self.assertTrue(all(r["ts"] <= back + 5 for r in fogtest.batch_rows(b)), b["batch_id"])
        # ...and they trickle at about the pace (generous bounds: the machine is shared).
        span = replay[-1][0] - replay[0][0]
        count = sum(len(fogtest.batch_rows(b)) for _, b in replay[1:])  # the first goes at once
        rate = count / span
        worst = max(t - max(r["ts"] for r in fogtest.batch_rows(b)) for t, b in live)
        print(f"\nreplay: {len(replay)} batches, {count + len(fogtest.batch_rows(replay[0][1]))} readings, "
              f"{rate:.1f} readings/s over {span:.1f} s (replay_rate {REPLAY_RATE}); "
              f"{len(live)} live batches, first {live[0][0] - back:.2f} s after the restart, "
              f"newest reading to arrival at most {worst:.2f} s", file=sys.stderr)
        self.assertLessEqual(rate, 1.3 * REPLAY_RATE)
        self.assertGreaterEqual(rate, 0.3 * REPLAY_RATE)

        # Live batches went on beside the drain with recent readings only, and were not held back.
        during = [(t, b) for t, b in live if replay[0][0] <= t <= replay[-1][0]]
        self.assertGreater(len(during), 5)
        for t, b in live:
            newest = max(r["ts"] for r in fogtest.batch_rows(b))
            self.assertGreaterEqual(min(r["ts"] for r in fogtest.batch_rows(b)), back - 1, b["batch_id"])
            self.assertLess(t - newest, 5, f"live batch {b['batch_id']} waited {t - newest:.1f} s")

        report = self.finish_and_audit()
        self.assertGreaterEqual(report["delivered_in_replay"], backlog, report)


if __name__ == "__main__":
    unittest.main()
