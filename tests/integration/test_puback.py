#!/usr/bin/python3
"""Lost acknowledgements on a busy link: a scripted upstream (tests/support/ackproxy.py) between
the gateway and the cloud broker withholds single batches' PUBACKs, or the batches themselves,
while the ones around them are acknowledged. Every message in flight has its own deadline
(cloud.puback_timeout from its send): each withheld batch goes again, with its batch_id, within
the timeout plus a reconnect, and the audit finds nothing missing."""

import pathlib
import signal
import sys
import threading
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from ackproxy import AckProxy  # noqa: E402
from fogtest import scaled, wait_until  # noqa: E402
from test_faults import BOARDS, FaultCase  # noqa: E402

PUBACK_TIMEOUT = 2
RECONNECT_MAX = 1.0
# A withheld batch is sent again within its deadline, the reconnect backoff, a TLS connect
# through the proxy and a turn of the uplink loop.
RESEND_BOUND = PUBACK_TIMEOUT + RECONNECT_MAX + 2.5


class Picker:
    """Withholds the first send of every `every`-th new batch, `count` times; other topics
    when `also(topic, conn)` says so."""

    def __init__(self, every, count, also=None):
        self.every, self.count, self.also = every, count, also
        self.seen, self.picked = set(), []
        self.lock = threading.Lock()

    def __call__(self, _n, topic, batch_id, conn):
        with self.lock:
            if batch_id is None:
                return bool(self.also and self.also(topic, conn))
            if batch_id in self.seen:
                return False
            self.seen.add(batch_id)
            if len(self.seen) % self.every == 0 and len(self.picked) < self.count:
                self.picked.append(batch_id)
                return True
            return False


class PubackTest(FaultCase):
    def start_proxied_stack(self, picker, mode):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        self.proxy = AckProxy(self.pki, self.cloud, picker, mode).start()
        self.addCleanup(self.proxy.stop)
        self.addCleanup(lambda: self.proxy.write_events(self.work_dir / "proxy-events.log"))
        conf = {"cloud": {"puback_timeout": PUBACK_TIMEOUT, "keepalive": 5, "compression": "none",
                          "reconnect_max": RECONNECT_MAX},
                "gateway": {"health_interval": 0.25}}
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.proxy,
                                              self.work_dir / "q.db", conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = self.start_gateway()
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                       for i, b in enumerate(BOARDS, start=1)]

    def resend_delays(self):
        """For every withheld batch: seconds from its withheld send to the next send that passed."""
        withheld = [(t, d[1]) for t, _, d in self.proxy.events("withheld") if d[1]]
        forwarded = [(t, d[1]) for t, _, d in self.proxy.events("forwarded") if d[1]]
        delays = {}
        for t, batch_id in withheld:
            later = [f for f, b in forwarded if b == batch_id and f >= t]
            delays[batch_id] = min(later) - t if later else None
        return delays

    def wait_resent(self, picker):
        wait_until(lambda: len(picker.picked) == picker.count, scaled(60), "the batches to withhold")
        wait_until(lambda: None not in self.resend_delays().values(), scaled(RESEND_BOUND + 5),
                   "every withheld batch sent again")
        delays = self.resend_delays()
        print(f"\n{self.id()}: resend delays {sorted(round(d, 2) for d in delays.values())}", file=sys.stderr)
        self.assertEqual(len(delays), picker.count)
        for batch_id, delay in delays.items():
            # Acknowledgements of later batches did not postpone it (they kept coming all along).
            self.assertLessEqual(delay, scaled(RESEND_BOUND), batch_id)
            self.assertGreaterEqual(delay, PUBACK_TIMEOUT * 0.9, batch_id)

    def assert_health_ages_bounded(self):
        ages = [m.json()["uplink"].get("oldest_unacked_age_s") for m in self.health.messages()]
        ages = [a for a in ages if a is not None]
        self.assertTrue(ages, "health never showed a message in flight")
        # Past the deadline the link is replaced: no report shows a message waiting much longer.
        self.assertLessEqual(max(ages), scaled(PUBACK_TIMEOUT + 1.5), ages)

    def test_batches_lost_on_the_way_are_sent_again_within_the_deadline(self):
        picker = Picker(every=12, count=3)
        self.start_proxied_stack(picker, "publish")
        self.wait_resent(picker)
        self.gateway.wait_for_log(r"no PUBACK for batch \S+ \(message id \d+\) after [\d.]+ s", 5)
        self.assert_health_ages_bounded()
        self.finish_and_audit()
        self.check_close_and_shutdown_logs()

    def check_close_and_shutdown_logs(self):
        mark = self.gateway.mark()
        self.proxy.stop()  # the upstream hangs up on the gateway
        self.gateway.wait_for_log(r"connection lost: the broker closed the connection; retrying", 10,
                                  since=mark)
        self.assertNotIn("unexpected eof", self.gateway.stderr()[mark[1]:])
        # Readings arrive while the cloud is away, so the store holds some at shutdown.
        board = fogstack.start_sensor(self, self.local, BOARDS[0], "--source", "simulated", "--rate", 25,
                                      "--resend-timeout", 2, "--flush-timeout", 1, name="late-board")
        wait_until(lambda: self.health.messages() and
                   self.health.messages()[-1].json()["queue"]["readings"] > 0, 15, "readings held")
        board.stop()
        mark = self.gateway.mark()
        self.gateway.signal(signal.SIGTERM)
        self.assertEqual(self.gateway.wait(30), 0)
        log = self.gateway.stderr()[mark[1]:]
        self.assertIn("SIGTERM: draining", log)
        after = log[log.index("SIGTERM: draining"):]
        self.assertNotIn("retrying", after)
        self.assertRegex(after, r"stopped; left undelivered in the store for the next start: [1-9]\d* readings")

    def test_withheld_pubacks_and_status_are_each_timed_out(self):
        picker = Picker(every=12, count=2, also=lambda topic, conn: topic.endswith("/status") and conn == 1)
        self.start_proxied_stack(picker, "puback")
        # The first connection's "online" never gets its PUBACK although batches do: replaced.
        self.gateway.wait_for_log(r"no PUBACK for status", scaled(RESEND_BOUND + 5))
        self.wait_resent(picker)
        self.assertGreaterEqual(self.proxy.connections, 1 + picker.count + 1)
        self.assert_health_ages_bounded()
        # The broker had each withheld batch: the cloud sees it twice, with the same batch_id.
        report = self.finish_and_audit()
        self.assertGreaterEqual(report["delivered_more_than_once"], 1, report)


if __name__ == "__main__":
    unittest.main()
