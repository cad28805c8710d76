#!/usr/bin/python3
"""A full disk and a failing disk under the store (label `fault`): the gateway stops acknowledging
devices (they keep their readings), says so in one log line, in health and in /metrics, keeps
forwarding what the store holds, reopens the store after an I/O error, and resumes by itself once
the disk takes writes again; the audit then finds nothing missing and the store is intact.

ENOSPC comes from a real full file system (a small tmpfs: needs root, as in CI); EIO on write and
on fsync from the power-cut shim's fault switch (tests/support/powercut.py)."""

import pathlib
import sqlite3
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import powercut  # noqa: E402
from fogtest import free_port, scaled, wait_until  # noqa: E402
from test_faults import BOARDS, FaultCase  # noqa: E402

EIO, ENOSPC = 5, 28


class DiskFaultCase(FaultCase):
    def start_stack(self, store_dir, env=None, sections=None, before_online=None):
        self.local = self.start_broker("local")
        self.cloud = self.start_broker("cloud")
        self.metrics_port = free_port()
        conf = {"cloud": {"puback_timeout": 3, "keepalive": 5}, "gateway": {"health_interval": 0.5},
                "store": {"synchronous": "full"}, "metrics": {"port": self.metrics_port}}
        for k, v in (sections or {}).items():
            conf.setdefault(k, {}).update(v)
        self.store_path = pathlib.Path(store_dir) / "q.db"
        self.config = fogstack.gateway_config(self.work_dir / "gw.toml", self.pki, self.local, self.cloud,
                                              self.store_path, conf)
        self.received = self.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"],
                                       clean_session=False)
        self.health = self.collector(self.local, f"gateways/{self.pki.gateway_id}/health")
        self.gateway = self.start_process([str(fogstack.fogtest.executable(fogstack.GATEWAY)), "--config",
                                           str(self.config)], name="gateway", env=env)
        if before_online:
            before_online()
        fogstack.wait_gateway_online(self, self.local)
        self.boards = [fogstack.start_sensor(self, self.local, b, "--source", "simulated", "--rate", 25,
                                             "--resend-timeout", 2, "--flush-timeout", 60, "--seed", i)
                       for i, b in enumerate(BOARDS, start=1)]

    def last_health(self):
        msgs = self.health.messages()
        return msgs[-1].json() if msgs else {}

    def wait_store(self, writable, error=None, timeout=30):
        def state():
            s = self.last_health().get("store", {})
            return s.get("writable") == writable and (error is None or s.get("error") == error)
        wait_until(state, scaled(timeout), f"health store.writable = {writable}")
        return self.last_health()

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=scaled(5)) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def readings_at_cloud(self):
        return len(fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")]))

    def check_store_intact(self):
        con = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            con.close()

    def injected_fault(self, kind, set_fault):
        """Streams, fails the disk's writes or syncs for a while, heals it, audits."""
        disk = powercut.Disk(self.work_dir / "store", seed=1)
        faults = powercut.Faults(self.work_dir / "faults")
        self.start_stack(disk.dir, env=faults.env(disk.start()))
        self.wait_streaming()
        mark = self.gateway.mark()
        set_fault(EIO)
        self.gateway.wait_for_log(r"store: cannot write \(io\)", scaled(20), since=mark)
        h = self.wait_store(False, "io")
        self.assertEqual(h["status"], "degraded")
        self.assertEqual(self.metric("fogbridge_store_writable"), 0)
        failures = h["counters"]["commit_failures"]
        wait_until(lambda: self.last_health()["counters"]["commit_failures"] >= failures + 3, scaled(30),
                   "commits retried")
        # One line for the whole outage, not one per retry.
        self.assertEqual(len(self.gateway.output()[mark[0]:].split("store: cannot write")) - 1, 1,
                         self.gateway.output()[-3000:])
        set_fault(0)
        self.gateway.wait_for_log(r"store: writing again after", scaled(20), since=mark)
        h = self.wait_store(True)
        self.assertGreaterEqual(h["store"]["reopens"], 1, h["store"])
        self.assertEqual(self.metric("fogbridge_store_writable"), 1)
        self.assertGreaterEqual(self.metric("fogbridge_store_reopens_total"), 1)
        self.wait_streaming()
        self.finish_and_audit()
        self.check_store_intact()


class DiskFaultTest(DiskFaultCase):
    def test_eio_on_write(self):
        self.injected_fault("write", lambda err: self.faults_set("write", err))

    def test_eio_on_fsync(self):
        self.injected_fault("fsync", lambda err: self.faults_set("sync", err))

    def faults_set(self, which, err):
        f = powercut.Faults.__new__(powercut.Faults)
        f.path = self.work_dir / "faults"
        (f.set_write if which == "write" else f.set_sync)(err)

    def test_disk_full(self):
        why = powercut.Tmpfs.available()
        if why:
            self.skipTest(why)
        fs = powercut.Tmpfs(self.work_dir / "store", "16m").mount()
        self.addCleanup(fs.unmount)
        # No free-space floor: the point is a disk that really fills up (ENOSPC), and the default
        # floor (64 MiB) is larger than this whole file system.
        self.start_stack(fs.path, sections={"store": {"min_free_bytes": 0}})
        self.wait_streaming()
        # The cloud away, the store grows; then the disk fills up under it.
        self.cloud.stop()
        mark = self.gateway.mark()
        filler = fs.fill()
        self.gateway.wait_for_log(r"store: cannot write \(full\)", scaled(60), since=mark)
        h = self.wait_store(False, "full")
        self.assertEqual(self.metric("fogbridge_store_writable"), 0)
        self.assertGreater(h["queue"]["readings"], 0, h["queue"])
        # The cloud back while the disk is still full: the gateway stays up and keeps refusing
        # acknowledgements (leasing a batch needs room in the WAL too: what it holds goes out as
        # far as that fits, and all of it once there is room).
        self.cloud.restart()
        time.sleep(3)  # the scenario: a while on a full disk with the uplink connected
        self.assertTrue(self.gateway.running, self.gateway.output()[-3000:])
        self.assertFalse(self.last_health()["store"]["writable"])
        filler.unlink()
        self.gateway.wait_for_log(r"store: writing again after", scaled(30), since=mark)
        self.wait_store(True)
        self.wait_streaming()
        self.finish_and_audit()
        self.check_store_intact()

    def test_start_on_a_full_disk(self):
        # A gateway started on a disk with no room for its store (after a power cut while the
        # disk was full, say) waits for room instead of exiting, and starts once there is.
        why = powercut.Tmpfs.available()
        if why:
            self.skipTest(why)
        fs = powercut.Tmpfs(self.work_dir / "store", "16m").mount()
        self.addCleanup(fs.unmount)
        filler = fs.fill()

        def wait_for_room():
            self.gateway.wait_for_log(r"retrying until the disk takes it", scaled(30))
            self.assertTrue(self.gateway.running, self.gateway.output()[-3000:])
            filler.unlink()
            self.gateway.wait_for_log(r"fogbridge .* started", scaled(30))

        self.start_stack(fs.path, sections={"store": {"min_free_bytes": 0}}, before_online=wait_for_room)
        self.wait_streaming()
        self.finish_and_audit()
        self.check_store_intact()


if __name__ == "__main__":
    unittest.main()
