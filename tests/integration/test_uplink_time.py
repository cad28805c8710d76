#!/usr/bin/python3
"""The uplink under a failing store and a stepping wall clock (label `fault`): a store error in the
uplink ends only its cloud session (backoff, counted in health and /metrics), never the process,
and the uplink recovers when the store does; a wall-clock step of +1 h and -1 h while the gateway
runs changes no reconnect or PUBACK-deadline decision. Each ends with the audit."""

import pathlib
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import scaled, wait_until  # noqa: E402
from test_faults import BOARDS, FaultCase  # noqa: E402

FAKETIME = next(iter(sorted(pathlib.Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))),
                pathlib.Path("/usr/lib/faketime/libfaketimeMT.so.1"))


class UplinkTimeTest(FaultCase):
    def start(self, env=None, sections=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        conf = {"cloud": {"puback_timeout": 3, "keepalive": 5}, "gateway": {"health_interval": 0.5}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        self.store_path = self.work_dir / "q.db"
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.store_path, conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = self.start_process([str(fogstack.fogtest.executable(fogstack.GATEWAY)), "--config",
                                           str(self.config)], name="gateway", env=env)
        fogstack.wait_gateway_online(self, self.local)
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                       for i, b in enumerate(BOARDS, start=1)]

    def uplink_health(self):
        msgs = self.health.messages()
        return msgs[-1].json()["uplink"] if msgs else {}

    def readings_at_cloud(self):
        return len(fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")]))

    def store_sql(self, sql):
        con = sqlite3.connect(self.store_path, timeout=scaled(20))
        try:
            con.execute(sql)
            con.commit()
        finally:
            con.close()

    def test_store_error_in_the_uplink_ends_the_session_not_the_process(self):
        self.start()
        self.wait_streaming()
        mark = self.gateway.mark()
        # Every uplink call that touches the batches fails (not a full or failing disk, which the
        # store tolerates): leasing, acknowledging, resending after a connect.
        self.store_sql("ALTER TABLE batches RENAME TO batches_away")
        self.gateway.wait_for_log(r"connection lost: store error", scaled(20), since=mark)
        wait_until(lambda: self.uplink_health().get("store_errors", 0) >= 2, scaled(30),
                   "the uplink retrying with backoff, each failure counted")
        self.assertTrue(self.gateway.running, self.gateway.output()[-3000:])
        self.store_sql("ALTER TABLE batches_away RENAME TO batches")
        wait_until(lambda: self.uplink_health().get("state") == "connected", scaled(40), "the uplink back")
        self.wait_streaming()
        self.finish_and_audit()

    @unittest.skipUnless(FAKETIME.exists(), "libfaketime (Debian package faketime) not installed")
    def test_wall_clock_steps_change_no_timer_decision(self):
        offset = self.work_dir / "faketime"
        offset.write_text("+0\n")
        env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               # A real step leaves the files' times alone (here: the TLS files' rotation check).
               "NO_FAKE_STAT": "1"}
        # The boards' clocks stay right: readings an hour off the gateway's clock are still valid.
        self.start(env, {"validate": {"max_future_s": 7200, "max_past_s": 7200 + 86400}})
        self.wait_streaming()
        mark = self.gateway.mark()
        connects = self.uplink_health()["connects"]
        for step in (3600, -3600, 0):
            offset.write_text(f"{step:+d}\n")
            # The gateway's wall clock did step (its health report's timestamp)...
            wait_until(lambda: abs(self.health.messages()[-1].json()["ts"] - (time.time() + step)) < 600,
                       scaled(10), f"the gateway's clock {step:+d} s off")
            # ...and batches still leave after batch.max_delay (1 s), not when the wall clock says.
            start = self.readings_at_cloud()
            wait_until(lambda: self.readings_at_cloud() >= start + 100, scaled(10),
                       "100 more readings at the cloud within 10 s")
        log = self.gateway.stderr()[mark[1]:] + self.gateway.stdout()[mark[0]:]
        for bad in ("no PUBACK", "connection lost", "cannot connect", "no CONNACK"):
            self.assertNotIn(bad, log, log[-3000:])
        self.assertEqual(self.uplink_health()["connects"], connects, log[-3000:])
        self.finish_and_audit()


if __name__ == "__main__":
    unittest.main()
