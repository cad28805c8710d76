#!/usr/bin/python3
"""The reference firmware (device-sdk/firmware/mps2) on an emulated Cortex-M4 board (QEMU
mps2-an386) streams through the real local broker and gateway to the cloud broker. Its UART is
wired to the broker's plain board listener (deploy/mosquitto/local-mcu.conf.in) by QEMU's
-serial tcp:, so the MQTT bytes come from the core itself. The board is reset mid-stream (QEMU
monitor system_reset), its power is cut (QEMU killed and started again) and the local broker
is restarted under it; the audit finds nothing missing. Without persistent storage, readings
the board held in RAM, unsent, at the reset are lost with the RAM and counted as such; with its
flash log (a host file through semihosting, which a reset leaves alone), a reset or a power cut
loses nothing."""

import importlib.machinery
import json
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import fogtest  # noqa: E402
from fogtest import REPO_ROOT, FogTestCase, wait_until  # noqa: E402

audit_tool = importlib.machinery.SourceFileLoader(
    "fogbridge_audit", str(REPO_ROOT / "tools" / "fogbridge-audit")).load_module()

FIRMWARE = fogtest.build_dir() / "mcu" / "fogbridge-mps2.elf"
QEMU = shutil.which("qemu-system-arm")
DEVICE = "mcu-01"
PASSWORD = "board-secret-01"
PUB = re.compile(r"^pub boot=(\d+) seq=(\d+)$", re.M)
BOOT = re.compile(r"^fogbridge-mps2: id=\S+ boot=(\d+)$", re.M)
FLASH = re.compile(r"^flash: held=(\d+) capacity=(\d+) torn=(\d+)$", re.M)
STAT = re.compile(r"^stat boot=(\d+) published=(\d+) acked=(\d+) .* reconnects=(\d+)$", re.M)


class McuBroker(fogtest.Broker):
    """local-mcu.conf.in: local.conf.in's two TLS listeners plus the boards' plain listener."""

    def __init__(self, workdir, pki):
        super().__init__("local", workdir, pki=pki, name="local-mcu-broker")
        self._template = fogtest.MOSQUITTO_TEMPLATES / "local-mcu.conf.in"
        self.mcu_port = fogtest.free_port()
        self.password_file = self.dir / "passwd"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(self.password_file), DEVICE, PASSWORD],
                       check=True, capture_output=True)

    def _template_values(self):
        return {**super()._template_values(), "PASSWORD_FILE": self.password_file,
                "MCU_PORT": self.mcu_port}


@unittest.skipUnless(FIRMWARE.exists() and QEMU, "needs qemu-system-arm and the board build (build/*/mcu)")
class McuBoardTest(FogTestCase):
    devices = ("sensor-01",)

    def setUp(self):
        super().setUp()
        self.local = McuBroker(self.work_dir, self.pki)
        self.addCleanup(self.local.kill)
        self.addCleanup(self.local.stop)
        self.local.start()
        self.cloud = self.start_broker("cloud")
        config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                         self.work_dir / "q.db", {"cloud": {"puback_timeout": 3}})
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.at_local = self.collector(self.local, [f"devices/{DEVICE}/readings", f"devices/{DEVICE}/alerts"],
                                       clean_session=False)
        fogstack.start_gateway(self, config)
        fogstack.wait_gateway_online(self, self.local)

    def start_board(self, readings, rate=25, flash=None):
        self.monitor = self.work_dir / "qemu-monitor.sock"
        append = f"id={DEVICE} user={DEVICE} pass={PASSWORD} readings={readings} rate={rate} keepalive=2"
        if flash:
            append += f" flash={flash}"
        self.assertLess(len(append), 255, "the firmware reads at most 255 characters of settings")
        cmd = [QEMU, "-M", "mps2-an386", "-nographic", "-semihosting-config", "enable=on,target=native",
               "-kernel", str(FIRMWARE), "-append", append,
               "-serial", f"tcp:127.0.0.1:{self.local.mcu_port},reconnect=1",
               "-monitor", f"unix:{self.monitor},server=on,wait=off"]
        self.board = self.start_process(cmd, name="qemu-mps2")
        wait_until(lambda: BOOT.search(self.board.output()), 10, "the firmware to boot")

    def boots(self):
        return [int(b) for b in BOOT.findall(self.board.output())]

    def acked(self, boot):
        stats = [s for s in STAT.findall(self.board.output()) if int(s[0]) == boot]
        return int(stats[-1][2]) if stats else 0

    def system_reset(self):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.monitor))
            s.sendall(b"system_reset\n")
            time.sleep(0.2)  # let the monitor read the line before the socket closes

    def wait_done(self, boot, timeout=60):
        self.board.wait_for_log(rf"^done boot={boot} ", fogtest.scaled(timeout))

    def board_published(self):
        return {(DEVICE, int(b), int(s)) for b, s in PUB.findall(self.board.output())}

    def audit(self, sent):
        def audited():
            received = [{"topic": m.topic, "payload": m.payload.decode()} for m in self.received.messages()]
            return audit_tool.audit(sent, received)
        try:
            wait_until(lambda: audited()["missing"] == 0, fogtest.scaled(30), "every reading at the cloud")
        except AssertionError:
            pass
        report = audited()
        print(f"\n{self.id()}: {json.dumps(report)}", file=sys.stderr)
        self.assertEqual(report["missing"], 0, report)
        self.assertEqual(report["duplicates_with_new_batch_id"], 0, report)
        return report

    def at_local_sent(self):
        sent = [{"topic": m.topic, "payload": m.payload.decode()} for m in self.at_local.messages()
                if m.topic.endswith("/readings")]
        return audit_tool.sent_ids(sent)

    def check_payloads(self):
        readings = [m.json() for m in self.at_local.messages() if m.topic.endswith("/readings")]
        one = readings[0][0] if isinstance(readings[0], list) else readings[0]
        self.assert_schema(one, "reading")
        self.assertGreater(one["ts"], time.time() - 3600)
        self.assertIn("up", one)
        alerts = [m.json() for m in self.at_local.messages() if m.topic.endswith("/alerts")]
        self.assertTrue(alerts, "the 30 C alert")
        self.assert_schema(alerts[0], "alert")
        self.assertEqual((alerts[0]["rule"], alerts[0]["threshold"]), ("above", 30))

    def test_reset_mid_stream(self):
        self.start_board(readings=280)
        first = self.boots()[0]
        wait_until(lambda: self.acked(first) >= 60, fogtest.scaled(30), "60 readings acknowledged")
        # Freeze the broker so that readings pile up in the board's RAM beyond what it may send
        # without PUBACKs, then reset the board: those are lost with the RAM.
        self.local.sigstop()
        try:
            # At most max_in_flight (64) readings beyond the last ack can have been sent; the
            # last stat line may be a second (25 readings) behind.
            acked = self.acked(first)
            wait_until(lambda: len([p for p in self.board_published() if p[1] == first]) >= acked + 100,
                       fogtest.scaled(20), "readings held in the board's RAM")
            self.system_reset()
            wait_until(lambda: len(self.boots()) == 2, fogtest.scaled(10), "the board to boot again")
        finally:
            self.local.sigcont()
        second = self.boots()[1]
        self.assertNotEqual(first, second)
        self.wait_done(second)
        # What reached the local broker must reach the cloud; what the board held in RAM, unsent,
        # at the reset is gone with it.
        sent = self.at_local_sent()
        report = self.audit(sent)
        published = self.board_published()
        lost_with_ram = published - sent
        print(f"{self.id()}: lost with RAM at the reset: {len(lost_with_ram)} of "
              f"{len([p for p in published if p[1] == first])} readings of boot {first}", file=sys.stderr)
        self.assertTrue(lost_with_ram, "the readings beyond the in-flight window")
        self.assertTrue(all(boot == first for _, boot, _ in lost_with_ram), sorted(lost_with_ram)[:10])
        # They are the newest of that boot: everything before them reached the broker.
        first_lost = min(seq for _, _, seq in lost_with_ram)
        self.assertEqual({p for p in published if p[1] == first and p[2] < first_lost},
                         {p for p in sent if p[1] == first and p[2] < first_lost})
        self.assertEqual({p for p in published if p[1] == second}, {p for p in sent if p[1] == second})
        self.assertGreaterEqual(report["delivered"], 280 + 60)
        self.check_payloads()

    def test_reset_mid_stream_with_flash(self):
        # The same reset, with the board's flash log: the readings it held at the reset, sent or
        # not, go out after it under their own boot, before the new boot's. Nothing is lost.
        self.start_board(readings=240, rate=40, flash=self.work_dir / "board-flash.bin")
        first = self.boots()[0]
        wait_until(lambda: self.acked(first) >= 60, fogtest.scaled(30), "60 readings acknowledged")
        self.local.sigstop()
        try:
            acked = self.acked(first)
            wait_until(lambda: len([p for p in self.board_published() if p[1] == first]) >= acked + 100,
                       fogtest.scaled(20), "readings held in the board's flash")
            self.system_reset()
            wait_until(lambda: len(self.boots()) == 2, fogtest.scaled(10), "the board to boot again")
        finally:
            self.local.sigcont()
        taken = len([p for p in self.board_published() if p[1] == first])
        self.assertLess(taken, 240, "reset mid-stream")
        second = self.boots()[1]
        self.assertEqual(second, first + 1, "the boot counter kept in the flash")
        held = [int(h[0]) for h in FLASH.findall(self.board.output())]
        self.assertEqual(held[0], 0)
        self.assertGreater(held[1], 0, "unacknowledged readings found in the flash")
        self.wait_done(second)
        # Every reading the board took reached the cloud: missing 0, none counted as lost.
        published = self.board_published()
        report = self.audit(published)
        self.assertEqual(report["delivered"], len(published))
        self.assertEqual(len([p for p in published if p[1] == second]), 240)
        print(f"{self.id()}: held in the flash at the reset: {held[1]} of the {taken} readings of "
              f"boot {first}", file=sys.stderr)
        self.check_payloads()

    def test_power_cut_with_flash(self):
        # The power goes (QEMU killed, perhaps between a record and its commit word) while
        # readings wait unacknowledged; the board starts again on the same flash.
        self.start_board(readings=240, rate=40, flash=self.work_dir / "board-flash.bin")
        first = self.boots()[0]
        wait_until(lambda: self.acked(first) >= 40, fogtest.scaled(30), "40 readings acknowledged")
        self.local.sigstop()
        try:
            # The last stat line may be a second behind the acks.
            want = min(self.acked(first) + 80, 240)
            wait_until(lambda: len([p for p in self.board_published() if p[1] == first]) >= want,
                       fogtest.scaled(20), "readings held in the board's flash")
            self.board.kill()
        finally:
            self.local.sigcont()
        self.board.start()
        wait_until(lambda: len(self.boots()) == 2, fogtest.scaled(10), "the board to boot again")
        second = self.boots()[1]
        self.assertEqual(second, first + 1, "the boot counter kept in the flash")
        self.wait_done(second)
        published = self.board_published()
        report = self.audit(published)
        self.assertEqual(report["delivered"], len(published))
        held, torn = [(int(f[0]), int(f[2])) for f in FLASH.findall(self.board.output())][1]
        print(f"{self.id()}: held in the flash at the power cut: {held}, torn records: {torn}",
              file=sys.stderr)
        self.assertGreater(held, 0)

    def test_local_broker_restarted_under_the_board(self):
        self.start_board(readings=300)
        boot = self.boots()[0]
        wait_until(lambda: self.acked(boot) >= 60, fogtest.scaled(30), "60 readings acknowledged")
        self.local.restart()
        self.wait_done(boot, timeout=90)
        # Nothing was lost: every reading the board took is at the cloud.
        report = self.audit(self.board_published())
        self.assertEqual(report["delivered"], 300)
        reconnects = [int(s[3]) for s in STAT.findall(self.board.output())]
        self.assertGreaterEqual(max(reconnects), 1)


if __name__ == "__main__":
    unittest.main()
