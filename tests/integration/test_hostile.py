#!/usr/bin/python3
"""Hostile payloads through the real local broker (mutual TLS + ACL) into the gateway: every case
is rejected with its exact reason on gateways/<gw>/rejects and counted in the health payload, the
gateway keeps running, and the valid readings sent in between all reach the cloud intact. The
same for the status and health topics. What the broker itself stops is test_hostile_broker."""

import collections
import pathlib
import sys
import time
import unittest
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from fogtest import wait_until  # noqa: E402
from hostile_stack import (ABSENT, DAY, DEVICE, MAX_PAYLOAD, MAX_READINGS, GatewayStack, dumps,  # noqa: E402
                           hostile, valid)


class HostileCase:
    """One hostile message and the reject it must produce (field: the field the detail names)."""

    def __init__(self, name, payload, reason, kind="readings", field=None, detail=None):
        self.name, self.reason, self.kind, self.field, self.detail = name, reason, kind, field, detail
        self._payload = payload

    def payload(self, seq):
        p = self._payload(seq) if callable(self._payload) else self._payload
        return p if isinstance(p, bytes) else dumps(p)


def raw(n, field, literal):
    """A reading whose field holds literal JSON text (NaN, 1e400: what json.dumps will not write)."""
    return dumps(hostile(n, **{field: "@RAW@"})).replace(b'"@RAW@"', literal)


def cases():
    c = HostileCase
    return [
        c("malformed JSON", b"{not json", "bad_json"),
        c("truncated JSON", b'{"sensor":"temperature","value":21.', "bad_json"),
        c("empty payload", b"", "bad_json"),
        c("nesting one level too deep", b'[[[[{"sensor":"t"}]]]]', "too_deep",
          detail="nested deeper than 4 levels"),
        c("nesting 2000 deep", b"[" * 2000 + b"]" * 2000, "too_deep"),
        c("10 KB payload", lambda s: dumps(hostile(s, pad="x" * 10240)), "too_large",
          detail="exceeds the limit of 4096"),
        c("NaN literal", lambda s: raw(s, "value", b"NaN"), "not_finite", field="value",
          detail="NaN or Infinity literal"),
        c("Infinity literal", lambda s: raw(s, "value", b"Infinity"), "not_finite", field="value"),
        c("-Infinity literal", lambda s: raw(s, "value", b"-Infinity"), "not_finite", field="value"),
        c("nan literal (printf)", lambda s: raw(s, "value", b"nan"), "not_finite", field="value"),
        c("NaN literal in ts", lambda s: raw(s, "ts", b"NaN"), "not_finite", field="ts"),
        c("NaN in a key's place", lambda s: dumps(hostile(s)).replace(b'{"sensor"', b'{NaN:1,"sensor"'),
          "bad_json"),
        c("NaN as a string", lambda s: hostile(s, value="NaN"), "not_finite", field="value"),
        c("Infinity as a string", lambda s: hostile(s, value="Infinity"), "not_finite", field="value"),
        c("1e400", lambda s: raw(s, "value", b"1e400"), "not_finite", field="value"),
        c("-1e400", lambda s: raw(s, "value", b"-1e400"), "not_finite", field="value"),
        c("null value", lambda s: hostile(s, value=None), "not_finite", field="value"),
        c("ts 1e400", lambda s: raw(s, "ts", b"1e400"), "not_finite", field="ts"),
        c("seq 1e400", lambda s: raw(s, "seq", b"1e400"), "bad_seq", field="seq"),
        c("value a string", lambda s: hostile(s, value="hot"), "wrong_type", field="value"),
        c("value a boolean", lambda s: hostile(s, value=True), "wrong_type", field="value"),
        c("value an object", lambda s: hostile(s, value={"v": 1}), "wrong_type", field="value"),
        c("sensor a number", lambda s: hostile(s, sensor=5), "wrong_type", field="sensor"),
        c("boot a string", lambda s: hostile(s, boot="8"), "wrong_type", field="boot"),
        c("seq a fraction", lambda s: hostile(s, seq=s + 0.5), "wrong_type", field="seq"),
        c("ts a string", lambda s: hostile(s, ts="now"), "wrong_type", field="ts"),
        c("unit a number", lambda s: hostile(s, unit=5), "wrong_type", field="unit"),
        c("unit too long", lambda s: hostile(s, unit="u" * 17), "wrong_type", field="unit"),
        c("unit with a control character", lambda s: hostile(s, unit="C\n"), "wrong_type", field="unit"),
        c("empty object", {}, "missing_field", field="boot"),
        c("no value", lambda s: hostile(s, value=ABSENT), "missing_field", field="value"),
        c("no ts", lambda s: hostile(s, ts=ABSENT), "missing_field", field="ts"),
        c("no sensor", lambda s: hostile(s, sensor=ABSENT), "missing_field", field="sensor"),
        c("a number, not an object", b"42", "not_object"),
        c("a string, not an object", b'"online"', "not_object"),
        c("invalid UTF-8 byte", lambda s: dumps(hostile(s, sensor="@")).replace(b"@", b"t\xff"),
          "invalid_utf8"),
        c("overlong UTF-8 '/'", lambda s: dumps(hostile(s, unit="@")).replace(b"@", b"\xc0\xaf"),
          "invalid_utf8"),
        c("UTF-8 surrogate", lambda s: dumps(hostile(s, unit="@")).replace(b"@", b"\xed\xa0\x80"),
          "invalid_utf8"),
        c("truncated UTF-8 at the end", lambda s: dumps(hostile(s)) + b"\xe2\x82", "invalid_utf8"),
        c("ts a day ahead", lambda s: hostile(s, ts=time.time() + DAY), "ts_out_of_window", field="ts"),
        c("ts 60 days back", lambda s: hostile(s, ts=time.time() - 60 * DAY), "ts_out_of_window",
          field="ts"),
        c("ts 0", lambda s: hostile(s, ts=0), "ts_out_of_window", field="ts"),
        c("device field with '/'", lambda s: hostile(s, device=f"{DEVICE}/readings"), "device_mismatch",
          field="device"),
        c("device field '+'", lambda s: hostile(s, device="+"), "device_mismatch", field="device"),
        c("device field '#'", lambda s: hostile(s, device="#"), "device_mismatch", field="device"),
        c("device field of another device", lambda s: hostile(s, device="sensor-02"), "device_mismatch",
          field="device"),
        c("device field a number", lambda s: hostile(s, device=1), "wrong_type", field="device"),
        c("sensor with '+'", lambda s: hostile(s, sensor="temp+rature"), "bad_id", field="sensor"),
        c("sensor with '#'", lambda s: hostile(s, sensor="#"), "bad_id", field="sensor"),
        c("sensor with '/'", lambda s: hostile(s, sensor="a/b"), "bad_id", field="sensor"),
        c("sensor with a space", lambda s: hostile(s, sensor="air temp"), "bad_id", field="sensor"),
        c("sensor empty", lambda s: hostile(s, sensor=""), "bad_id", field="sensor"),
        c("sensor of 65 characters", lambda s: hostile(s, sensor="s" * 65), "bad_id", field="sensor"),
        c("sensor non-ASCII", lambda s: hostile(s, sensor="temp\u00e9rature"), "bad_id", field="sensor"),
        c("seq 0", lambda s: hostile(s, seq=0), "bad_seq", field="seq"),
        c("seq negative", lambda s: hostile(s, seq=-s), "bad_seq", field="seq"),
        c("seq 2^53", lambda s: hostile(s, seq=2**53), "bad_seq", field="seq"),
        c("boot negative", lambda s: hostile(s, boot=-1), "bad_seq", field="boot"),
        c("boot 2^64", lambda s: hostile(s, boot=2**64), "bad_seq", field="boot"),
        c("too many readings", lambda s: [hostile(s + i) for i in range(MAX_READINGS + 1)], "too_many",
          detail="6 readings exceed the limit of 5"),
        c("alert with NaN", lambda s: raw(s, "value", b"NaN"), "not_finite", kind="alerts", field="value"),
        c("alert with value 'Infinity'", lambda s: hostile(s, value="Infinity"), "not_finite",
          kind="alerts", field="value"),
        c("alert with a bad rule", lambda s: hostile(s, rule="r" * 65), "wrong_type", kind="alerts",
          field="rule"),
        c("alert claiming another device", lambda s: hostile(s, device="sensor-02"), "device_mismatch",
          kind="alerts", field="device"),
        c("alert too large", lambda s: dumps(hostile(s, pad="x" * 10240)), "too_large", kind="alerts"),
        c("alert an array", lambda s: [hostile(s)], "not_object", kind="alerts"),
    ]


class HostileInputTest(GatewayStack):
    def test_every_hostile_case_is_rejected_with_its_reason_and_the_valid_readings_between_arrive(self):
        self.start_stack()
        all_cases = cases()
        sent_valid, sent_hostile = [], []
        hostile_seq = 1
        for case in all_cases:
            sent_valid.append(valid(len(sent_valid) + 1))
            self.publish("readings", sent_valid[-1])
            sent_hostile.append(self.publish(case.kind, case.payload(hostile_seq)))
            hostile_seq += MAX_READINGS + 1
        # An array with one valid reading and one hostile: the valid one is kept.
        sent_valid.append(valid(len(sent_valid) + 1))
        self.publish("readings", [sent_valid[-1], hostile(hostile_seq, value="NaN")])
        sent_valid.append(valid(len(sent_valid) + 1))
        self.publish("readings", sent_valid[-1])
        expected = [(c.name, c.reason, c.kind) for c in all_cases] + [("array element", "not_finite", "readings")]

        last = len(sent_valid)
        self.wait_ack(last)
        wait_until(lambda: len(self.rejects.messages()) >= len(expected), 15, f"{len(expected)} rejects")
        rejects = self.reject_messages()
        got = [(r["reason"], m.topic, r["topic"]) for m, r in rejects]
        want = [(reason, f"gateways/{self.pki.gateway_id}/rejects", f"devices/{DEVICE}/{kind}")
                for _, reason, kind in expected]
        for i, (g, w) in enumerate(zip(got, want)):
            self.assertEqual(g, w, f"reject {i}: {expected[i][0]}")
        self.assertEqual(len(got), len(want))

        for case, sent, (_, r) in zip(all_cases, sent_hostile, rejects):
            self.assertEqual(r["device"], DEVICE, case.name)
            # A sample of the input: its first 256 bytes, invalid UTF-8 replaced.
            self.assertEqual(r["payload"], sent[:256].decode("utf-8", errors="replace"), case.name)
            if case.field:
                self.assertIn(f"'{case.field}'", r["detail"], case.name)
            if case.detail:
                self.assertIn(case.detail, r["detail"], case.name)
        self.assertTrue(rejects[-1][1]["detail"].startswith("element 1:"), rejects[-1][1]["detail"])

        # Every valid reading arrives once, with its values intact.
        wait_until(lambda: len(self.cloud_readings()) >= last, 15, f"{last} readings in the cloud")
        for m in self.batches.messages():
            self.assert_schema(m.payload, "batch")
        got_readings = {(r["boot"], r["seq"]): r for r in self.cloud_readings()}
        self.assertEqual(sorted(got_readings), [(7, s) for s in range(1, last + 1)])
        for r in sent_valid:
            c = got_readings[(7, r["seq"])]
            self.assertEqual((c["sensor"], c["value"], c["unit"], c["ts"]), (r["sensor"], r["value"], r["unit"], r["ts"]))

        # The retained health report counts each reason exactly.
        want_counts = dict(collections.Counter(reason for _, reason, _ in expected))
        health = self.wait_health(lambda c: c["rejected"] == want_counts, f"rejected == {want_counts}")
        self.assert_schema(health, "health")
        self.assertEqual(health["counters"]["rejected_total"], len(expected))
        self.assertEqual(health["counters"]["received"], last)
        self.assertEqual(health["counters"]["duplicates"], 0)
        self.assertTrue(self.gateway.running)

    def test_a_seq_that_goes_backwards_is_a_duplicate_not_a_reject(self):
        """A seq at or below what was already processed for the same (device, boot) is taken for a
        re-send: dropped and counted as a duplicate, with no reject, even when its value differs
        (the gateway keys on (device, boot, seq), not on content). The device evidently missed an
        ack, so the current mark may be acknowledged again, never a lower one."""
        self.start_stack()
        for seq in range(1, 6):
            self.publish("readings", valid(seq))
        self.wait_ack(5)
        self.publish("readings", valid(3, value=99.0))  # backwards, with a new value
        self.publish("readings", valid(1, value=98.0))
        self.publish("readings", valid(6))
        self.wait_ack(6)
        wait_until(lambda: len(self.cloud_readings()) >= 6, 15, "6 readings in the cloud")
        self.wait_health(lambda c: c["duplicates"] == 2, "2 duplicates")
        self.assertEqual(sorted((r["seq"], r["value"]) for r in self.cloud_readings()),
                         [(s, 20 + s / 8) for s in range(1, 7)])
        self.assertEqual(self.rejects.messages(), [])
        self.assertEqual(self.latest_health()["counters"]["rejected"], {})
        acks = [m.json()["seq"] for m in self.device.messages(f"devices/{DEVICE}/ack")]
        # Whether the duplicates share a group with seq 6 (one ack) or not (5 again) is timing.
        self.assertEqual(acks, sorted(acks), "acks never go backwards")
        self.assertEqual(acks[-1], 6)
        # A new boot starts its seqs again from 1: fresh, not backwards.
        r = valid(1)
        r["boot"] = 9
        self.publish("readings", r)
        self.wait_ack(1, boot=9)
        wait_until(lambda: any(x["boot"] == 9 for x in self.cloud_readings()), 15, "boot 9's seq 1 in the cloud")

    def test_a_flood_of_hostile_messages_leaves_the_gateway_running(self):
        self.start_stack()
        junk = [b"{", b"\xff\xfe", b"[" * 100, b"x" * (MAX_PAYLOAD + 1), b"null", b"[]" * 10]
        for i in range(300):
            self.device.publish(f"devices/{DEVICE}/readings", junk[i % len(junk)], wait=False)
        self.publish("readings", valid(1))
        self.wait_ack(1)
        # "[]"*10 is not JSON; "[]" alone would be an empty, valid array (nothing to reject).
        self.wait_health(lambda c: c["rejected_total"] == 300, "300 rejects")
        wait_until(lambda: len(self.cloud_readings()) == 1, 15, "the valid reading in the cloud")
        self.assertTrue(self.gateway.running)

        # Every reject is counted, but a device publishes at most validate.rejects_burst (100) at
        # once on the rejects topic; the next one published says how many were held back. A
        # token comes back every 0.1 s (rejects_per_s 10), so after 0.3 s one more junk message
        # is published, carrying the count of everything held back before it.
        time.sleep(0.3)
        self.device.publish(f"devices/{DEVICE}/readings", b"{", wait=False)
        self.wait_health(lambda c: c["rejected_total"] == 301, "301 rejects")

        def accounted():
            published = [r for _, r in self.reject_messages()]
            return published if len(published) + sum(r.get("suppressed", 0) for r in published) == 301 else None
        published = wait_until(accounted, 15, "published rejects plus suppressed counts = 301")
        self.assertLess(len(published), 200)
        self.assertGreaterEqual(len(published), 100)
        self.assertGreater(published[-1]["suppressed"], 0)


class DeviceTopicsTest(GatewayStack):
    """The status and health topics: validated like readings, rejected with a reason and counted;
    only valid health goes upstream, re-encoded."""

    def test_a_status_that_is_not_online_or_offline_is_rejected(self):
        self.start_stack()
        self.publish("status", b"\xff" * 100)
        self.publish("readings", valid(1))
        self.wait_ack(1)
        self.wait_health(lambda c: c["received"] == 1, "the valid reading counted")
        self.assertEqual(self.reject_reasons(1), ["invalid_utf8"])

    def test_device_health_that_is_not_json_is_rejected_and_not_sent_upstream(self):
        self.start_stack()
        upstream = self.collector(self.cloud, f"fogbridge/{self.pki.gateway_id}/devices/+/health")
        self.publish("health", b"\xff not json")
        self.publish("readings", valid(1))
        self.wait_ack(1)
        wait_until(lambda: len(self.cloud_readings()) == 1, 15, "the valid reading in the cloud")
        self.assertEqual((self.reject_reasons(1), upstream.messages()), (["invalid_utf8"], []))

    def test_oversized_device_health_is_rejected_not_dropped_silently(self):
        self.start_stack()
        self.publish("health", dumps({"battery": 80, "pad": "x" * (MAX_PAYLOAD + 1)}))
        self.publish("readings", valid(1))
        self.wait_ack(1)
        self.assertEqual(self.reject_reasons(1), ["too_large"])

    def test_status_and_health_each_case_rejected_with_its_reason_the_valid_ones_pass(self):
        self.start_stack()
        gw = self.pki.gateway_id
        upstream = self.collector(self.cloud, [f"fogbridge/{gw}/devices/+/health", f"fogbridge/{gw}/batch"])
        bad = [
            ("status", b"\xff" * 100, "invalid_utf8"),
            ("status", b"x" * (MAX_PAYLOAD + 1), "too_large"),
            ("status", b"maybe", "wrong_type"),
            ("status", b'"online"', "wrong_type"),
            ("health", b"\xff not json", "invalid_utf8"),
            ("health", dumps({"pad": "x" * (MAX_PAYLOAD + 1)}), "too_large"),
            ("health", b"{not json", "bad_json"),
            ("health", b"[" * 10 + b"]" * 10, "too_deep"),
            ("health", b"[]", "not_object"),
            ("health", dumps({"battery": "full"}), "wrong_type"),
            ("health", b'{"cpu":NaN}', "not_finite"),
            ("health", b'{"memory":1e400}', "not_finite"),
            ("health", b'{"radio":{"levels":[1,-Infinity]}}', "not_finite"),
            ("health", dumps({"device": "sensor-02", "battery": 3.9}), "device_mismatch"),
            ("health", dumps({"boot": -1}), "bad_seq"),
            ("health", dumps({"ts": time.time() + DAY}), "ts_out_of_window"),
        ]
        good_health = b'{ "battery": 3.9, "rssi": -71, "device": "sensor-01", "firmware": "1.4.2" }'
        for kind, payload, _ in bad[:4]:
            self.publish(kind, payload)
        for word in (b"online", b" offline\n", b""):
            self.publish("status", word)
        for kind, payload, _ in bad[4:]:
            self.publish(kind, payload)
        self.publish("health", good_health)
        self.publish("readings", valid(1))
        self.wait_ack(1)

        wait_until(lambda: len(self.rejects.messages()) >= len(bad), 15, f"{len(bad)} rejects")
        got = [(r["reason"], r["topic"], r["device"]) for _, r in self.reject_messages()]
        self.assertEqual(got, [(reason, f"devices/{DEVICE}/{kind}", DEVICE) for kind, _, reason in bad])
        want_counts = dict(collections.Counter(reason for _, _, reason in bad))
        health = self.wait_health(lambda c: c["rejected"] == want_counts and c["device_health"] == 1,
                                  f"rejected == {want_counts}")
        self.assert_schema(health, "health")
        self.assertEqual(health["counters"]["device_statuses"], 3)

        # Only the valid report reaches the cloud, re-encoded: exactly what the gateway checked.
        upstream.wait_for_message(f"fogbridge/{gw}/batch")
        relayed = upstream.wait_for_message(f"fogbridge/{gw}/devices/+/health")
        self.assertEqual(relayed.topic, f"fogbridge/{gw}/devices/{DEVICE}/health")
        self.assertEqual(relayed.payload, b'{"battery":3.9,"device":"sensor-01","firmware":"1.4.2","rssi":-71}')
        self.assert_schema(relayed.payload, "device-health")
        self.assertEqual(len(upstream.messages(f"fogbridge/{gw}/devices/+/health")), 1)
        self.assertTrue(self.gateway.running)

    def test_a_health_flood_while_the_cloud_is_away_neither_delays_nor_drops_alerts(self):
        """Alerts have their own lane in the uplink, sent before any health report; a board's
        newer health report replaces its waiting one, so a flood holds one place."""
        self.start_stack()
        gw = self.pki.gateway_id
        upstream = self.collector(self.cloud, [f"fogbridge/{gw}/alerts", f"fogbridge/{gw}/devices/+/health"],
                                  clean_session=False)
        self.cloud.stop()
        wait_until(lambda: (self.latest_health() or {}).get("uplink", {}).get("state") in ("disconnected", "connecting"), 15,
                   "the gateway to notice the cloud broker is gone")
        flood = 2000
        for i in range(flood):
            self.device.publish(f"devices/{DEVICE}/health", dumps({"battery": i}), wait=False)
        alerts = [hostile(n, value=30.0 + n, threshold=30.0) for n in range(1, 6)]
        for a in alerts:
            self.publish("alerts", a)
        self.publish("readings", valid(1))
        self.wait_ack(1)
        self.wait_health(lambda c: c["device_health"] == flood and c["alerts"] == len(alerts),
                         f"{flood} device health reports and {len(alerts)} alerts taken")
        self.cloud.restart()

        upstream.wait_for(len(alerts) + 1, 20, what="the alerts and the newest health report upstream")
        upstream.subscribe(f"fogtest/sync/{uuid.uuid4().hex}")  # whatever the broker queued is in
        got = upstream.messages()
        kinds = ["alert" if m.topic.endswith("/alerts") else "health" for m in got]
        # Every alert, in order, before any health report; of the flood only the newest report waited.
        self.assertEqual(kinds, ["alert"] * len(alerts) + ["health"], [m.topic for m in got])
        self.assertEqual([m.json()["value"] for m in got[:len(alerts)]], [a["value"] for a in alerts])
        for m in got[:len(alerts)]:
            self.assert_schema(m.payload, "alert-upstream")
        self.assertEqual(got[-1].json(), {"battery": flood - 1})
        uplink = self.latest_health()["uplink"]
        self.assertEqual((uplink["alerts_dropped"], uplink["reports_dropped"]), (0, 0))


if __name__ == "__main__":
    unittest.main()
