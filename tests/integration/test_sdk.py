#!/usr/bin/python3
"""The device SDK's board program (fogbridge-sensor) through the real gateway: every reading it
produces arrives in the cloud with its values intact, across a gateway outage, across a SIGKILL
of the board program (the file buffer), and from a replayed recording."""

import pathlib
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
from fogtest import FogTestCase, executable, free_port, wait_until  # noqa: E402

DEVICE = "sensor-01"
SUMMARY = re.compile(r"^fogbridge-sensor: id=(?P<id>\S+) (?P<fields>.*)$", re.MULTILINE)


def summary(proc):
    """The summary line fogbridge-sensor prints at exit, as a dict of strings."""
    m = SUMMARY.search(proc.stdout())
    if not m:
        raise AssertionError(f"no summary line from {proc.name}:\n{proc.output()[-3000:]}")
    return dict(field.split("=", 1) for field in m.group("fields").split())


def key(r):
    return (r["boot"], r["seq"])


def content(r):
    return (r["sensor"], r["value"], r.get("unit"), r["ts"])


class SdkCase(FogTestCase):
    def start_stack(self):
        # A fixed port, so the broker can come back on it after a stop.
        self.local = self.start_broker("local", port=free_port())
        self.cloud = self.start_broker("cloud")
        self.config = fogstack.gateway_config(self.work_dir / "gateway.toml", self.pki, self.local,
                                              self.cloud, self.work_dir / "queue.db")
        self.batches = self.collector(self.cloud, "fogbridge/+/batch", clean_session=False)
        # What the board hands to the local broker, re-sends included; a persistent session so a
        # broker restart loses nothing of it.
        self.device_messages = self.collector(self.local, f"devices/{DEVICE}/readings",
                                              clean_session=False)
        self.gateway = fogstack.start_gateway(self, self.config)
        fogstack.wait_gateway_online(self, self.local)

    def start_gateway_again(self):
        self.gateway.start()
        fogstack.wait_gateway_online(self, self.local)

    def sensor(self, *args, name=None):
        return fogstack.start_sensor(self, self.local, DEVICE, *args, name=name)

    # -- what was sent and what arrived

    def sent(self):
        """(boot, seq) -> reading, from every message the board published; a re-send must
        carry exactly what the first send did."""
        out = {}
        for m in self.device_messages.messages():
            body = m.json()
            for r in body if isinstance(body, list) else [body]:
                if key(r) in out:
                    self.assertEqual(content(out[key(r)]), content(r), f"re-send of {key(r)} differs")
                out[key(r)] = r
        return out

    def sent_settled(self, expected):
        """sent(), once the collector has seen at least `expected`: the board exits as soon as the
        gateway acked, and the test's own subscriber may still be a few messages behind."""
        wait_until(lambda: expected <= set(self.sent()), 10, "the collector to see every send")
        return self.sent()

    def arrived(self):
        """(boot, seq) -> reading of this device in the cloud batches. A reading may arrive twice
        only inside a batch whose batch_id arrived before (a re-sent batch)."""
        out = {}
        seen_batches = set()
        for m in self.batches.messages():
            batch = m.json()
            again = batch["batch_id"] in seen_batches
            seen_batches.add(batch["batch_id"])
            for r in fogstack.fogtest.batch_rows(batch):
                if r["device"] != DEVICE:
                    continue
                if key(r) in out:
                    self.assertTrue(again, f"{key(r)} arrived twice, the second time in a new batch "
                                           f"{batch['batch_id']}")
                    self.assertEqual(content(out[key(r)]), content(r))
                out[key(r)] = r
        return out

    def wait_cloud_has(self, keys, timeout=30, what="the readings in the cloud"):
        keys = set(keys)
        wait_until(lambda: keys <= set(self.arrived()), timeout, what)

    def assert_cloud_matches_sent(self):
        sent, cloud = self.sent(), self.arrived()
        self.assertEqual(set(cloud), set(sent))
        for k, r in sent.items():
            self.assertEqual(content(cloud[k]), content(r), f"reading {k}")

    def segment_bytes(self, buffer_file):
        return sum(p.stat().st_size for p in buffer_file.parent.glob(buffer_file.name + ".*"))


class SensorThroughGatewayTest(SdkCase):
    def test_every_simulated_reading_arrives_with_its_values(self):
        self.start_stack()
        n = 60
        board = self.sensor("--source", "simulated", "--rate", "20", "--count", n, "--seed", 7,
                            "--flush-timeout", 30)
        self.assertEqual(board.wait(60), 0)
        s = summary(board)
        self.assertEqual((s["published"], s["acked"], s["buffered"], s["flushed"]),
                         (str(n), str(n), "0", "yes"))
        boot = int(s["boot"])
        sent = self.sent_settled({(boot, seq) for seq in range(1, n + 1)})
        self.assertEqual(set(sent), {(boot, seq) for seq in range(1, n + 1)})
        self.assertEqual({r["sensor"] for r in sent.values()}, {"temperature", "humidity"})
        self.wait_cloud_has(sent)
        self.assert_cloud_matches_sent()

    def test_an_encrypted_device_key_works_with_its_passphrase_file(self):
        self.start_stack()
        crt, key = self.pki.device(DEVICE)
        secret = self.work_dir / "passphrase"
        secret.write_text("board secret 42\n")
        secret.chmod(0o600)
        encrypted = self.work_dir / "device-enc.key"
        subprocess.run(["openssl", "pkey", "-in", str(key), "-aes-256-cbc", "-passout", f"file:{secret}",
                        "-out", str(encrypted)], check=True, capture_output=True)
        self.assertIn("ENCRYPTED", encrypted.read_text())
        cmd = [str(executable(fogstack.SENSOR)), "--id", DEVICE, "--host", self.local.host,
               "--port", str(self.local.port), "--ca", str(self.pki.ca), "--cert", str(crt),
               "--key", str(encrypted), "--key-passphrase-file", str(secret),
               "--source", "simulated", "--rate", "20", "--count", 10, "--flush-timeout", 30]
        board = self.start_process([str(a) for a in cmd], name="sensor-encrypted-key")
        self.assertEqual(board.wait(60), 0, board.output()[-2000:])
        self.assertEqual(summary(board)["acked"], "10")
        self.wait_cloud_has(self.sent())
        self.assertNotIn("board secret", board.output())

    def test_a_gateway_outage_loses_nothing(self):
        self.start_stack()
        n = 240
        board = self.sensor("--source", "simulated", "--rate", "10", "--count", n,
                            "--resend-timeout", 2, "--flush-timeout", 60)
        wait_until(lambda: len(self.arrived()) >= 30, 30, "the first readings in the cloud")
        self.gateway.stop()
        at_stop = len(self.sent())
        # The board keeps publishing while nothing acknowledges: its buffer holds the readings.
        wait_until(lambda: len(self.sent()) >= at_stop + 40, 30, "readings during the outage")
        self.assertTrue(board.running)
        self.start_gateway_again()
        self.assertEqual(board.wait(90), 0)
        s = summary(board)
        self.assertEqual((s["published"], s["acked"], s["flushed"]), (str(n), str(n), "yes"))
        boot = int(s["boot"])
        self.assertEqual(set(self.sent_settled({(boot, seq) for seq in range(1, n + 1)})),
                         {(boot, seq) for seq in range(1, n + 1)})
        self.wait_cloud_has(self.sent())
        self.assert_cloud_matches_sent()

    def test_a_killed_board_delivers_its_file_buffer_after_a_restart(self):
        self.start_stack()
        board_dir = self.work_dir / "board"
        board_dir.mkdir()
        buffer_file = board_dir / "readings.buf"
        boot_file = board_dir / "boot"
        common = ["--source", "simulated", "--rate", "10", "--buffer-file", buffer_file,
                  "--boot-file", boot_file, "--buffer-fsync-ms", 100, "--resend-timeout", 2]
        first = self.sensor(*common, name="board-boot-1")
        wait_until(lambda: len(self.arrived()) >= 20, 30, "the first readings in the cloud")
        self.gateway.stop()
        sent_before = len(self.sent())
        wait_until(lambda: len(self.sent()) >= sent_before + 20, 30, "readings while the gateway is down")
        # The gateway host goes away entirely: what the board makes now is only in its file.
        self.local.stop()
        max_seen = max(seq for boot, seq in self.sent() if boot == 1)
        size = self.segment_bytes(buffer_file)
        wait_until(lambda: self.segment_bytes(buffer_file) >= size + 20 * 63, 30,
                   "readings buffered in the file while the broker is down")  # 63-byte records
        first.kill()
        self.assertEqual(first.returncode, -9)

        n = 30
        second = self.sensor(*common, "--count", n, "--flush-timeout", 60, name="board-boot-2")
        m = second.wait_for_log(r"(\d+) unacknowledged readings of earlier boots in the buffer "
                                r"\(boot 1 seq (\d+)\.\.(\d+)\)", 15)
        recovered, first_seq, last_seq = (int(x) for x in m.groups())
        self.assertEqual(recovered, last_seq - first_seq + 1)
        # At least 20 readings were made after the broker stopped: no broker ever saw them.
        self.assertGreaterEqual(last_seq, max_seen + 20)
        self.local.start()
        self.start_gateway_again()
        self.assertEqual(second.wait(90), 0)
        s = summary(second)
        self.assertEqual((s["boot"], s["recovered"], s["published"], s["acked"], s["buffered"],
                          s["flushed"]),
                         ("2", str(recovered), str(n), str(recovered + n), "0", "yes"))
        expected = {(1, seq) for seq in range(1, last_seq + 1)} | {(2, seq) for seq in range(1, n + 1)}
        self.assertEqual(set(self.sent_settled(expected)), expected)
        self.wait_cloud_has(expected)
        self.assert_cloud_matches_sent()
        # Readings only the file held (made while the broker was down) keep their up.
        from_file = [k for k in self.sent() if k[0] == 1 and k[1] > max_seen]
        self.assertTrue(from_file)
        self.assertTrue(all("up" in self.sent()[k] for k in from_file))

    def test_a_replayed_csv_arrives_with_its_timestamps_and_values(self):
        self.start_stack()
        start = int(time.time()) - 3600 + 0.125  # within the gateway's window for ts
        rows = [(start + 30 * i, round(20 + i / 8 - (i % 3) * 0.5, 3)) for i in range(25)]
        recording = self.work_dir / "temperature.csv"
        recording.write_text("".join(f"{t!r},{v!r}\n" for t, v in rows))
        board = self.sensor("--source", "replay", "--file", recording, "--format", "csv",
                            "--speed", 0, "--flush-timeout", 30)
        self.assertEqual(board.wait(60), 0)
        s = summary(board)
        self.assertEqual((s["published"], s["acked"], s["flushed"]), ("25", "25", "yes"))
        boot = int(s["boot"])
        expected = {(boot, i + 1): ("temperature", v, None, t) for i, (t, v) in enumerate(rows)}
        self.wait_cloud_has(expected)
        self.assertEqual({k: content(r) for k, r in self.arrived().items()}, expected)
        self.assert_cloud_matches_sent()


if __name__ == "__main__":
    unittest.main()
