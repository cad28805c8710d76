"""Seeded random fault schedules for the chaos run (tests/integration/test_chaos.py).

`schedule(seed, seconds, kinds)` draws a list of faults from the seed alone, so a run replays
with the same seed. `Stack` runs the gateway, both brokers, a TCP fault proxy on the uplink
(tcpchaos.py) and boards with file buffers, applies the faults one after another, heals
everything, lets the boards flush and returns what the audit needs.

Not thread-safe: drive it from the test's thread.
"""

import json
import pathlib
import random
import re
import shutil
import sqlite3
import time
import typing

import fogstack
import powercut
import tcpchaos
from fogtest import executable, scaled, wait_until

FAKETIME = pathlib.Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SUMMARY = re.compile(r"fogbridge-sensor: id=(\S+) boot=(\d+) published=(\d+) recovered=(\d+) acked=(\d+) "
                     r"buffered=(\d+)")
STARTING = re.compile(r"starting: boot (\d+)")

KINDS = ("gateway_kill", "power_cut", "local_restart", "local_freeze", "cloud_restart", "cloud_freeze",
         "uplink_partition", "uplink_delay", "uplink_reset", "disk_full", "clock_step", "board_reboot",
         "board_power_loss")


class Fault(typing.NamedTuple):
    at: float  # seconds after the run's start
    kind: str
    hold: float  # seconds the fault lasts (0: instantaneous)
    arg: object  # the board's index, the delay, the clock offset, or None

    def __str__(self):
        arg = "" if self.arg is None else f" {self.arg}"
        return f"{self.at:7.1f}s {self.kind}{arg} hold {self.hold:.1f}s"


def _draw(rng, kind, boards):
    """(hold, arg) of one fault of this kind."""
    if kind in ("local_freeze", "cloud_freeze", "uplink_partition", "disk_full"):
        return round(rng.uniform(1, 5), 1), None
    if kind == "uplink_delay":
        return round(rng.uniform(1, 5), 1), round(rng.uniform(0.1, 1.5), 2)
    if kind == "clock_step":
        # Forward up to a day; back less than validate.max_future_s (300 s), beyond which the
        # gateway rightly refuses the boards' readings as from the future.
        offset = rng.choice([rng.randint(30, 86400), -rng.randint(10, 240)])
        return round(rng.uniform(2, 8), 1), offset
    if kind in ("board_reboot", "board_power_loss"):
        return round(rng.uniform(0, 3), 1), rng.randrange(boards)
    if kind == "cloud_restart":
        return round(rng.uniform(0, 5), 1), None
    return 0.0, None


def schedule(seed, seconds, kinds=KINDS, boards=3):
    """The faults of a run, one at a time, 0.5-2 s apart: every kind once in a random order, then
    again, so that even a short run has each kind."""
    rng = random.Random(seed)
    faults, t, bag = [], rng.uniform(1, 3), []
    while t < seconds:
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        kind = bag.pop()
        hold, arg = _draw(rng, kind, boards)
        faults.append(Fault(round(t, 1), kind, hold, arg))
        t += hold + rng.uniform(0.5, 2)
    return faults


class Board:
    """One fogbridge-sensor with its file buffer; boots are counted by the sensor itself, and its
    journal lists every (boot, seq) its buffer took, also of boots ended by SIGKILL."""

    def __init__(self, case, index, device):
        self.case, self.device = case, device
        self.buffer = case.work_dir / "boards" / device / "buf"
        self.buffer.parent.mkdir(parents=True, exist_ok=True)
        self.journal = self.buffer.parent / "journal"
        self.args = ["--source", "simulated", "--rate", 25, "--resend-timeout", 2, "--seed", index + 1,
                     "--buffer-file", self.buffer, "--buffer-fsync-ms", 0, "--journal", self.journal]
        self.proc = None

    def start(self, flush_timeout=2, *extra):
        crt, key = self.case.pki.device(self.device)
        local = self.case.local
        cmd = [executable(fogstack.SENSOR), "--id", self.device, "--host", local.host, "--port", local.port,
               "--ca", self.case.pki.ca, "--cert", crt, "--key", key, *self.args,
               "--flush-timeout", flush_timeout, *extra]
        if self.proc is None:
            self.proc = self.case.start_process(cmd, name=f"sensor-{self.device}")
        else:
            self.proc.args = [str(a) for a in cmd]
            self.proc.start()

    def summaries(self):
        return [m.groups() for m in SUMMARY.finditer(self.proc.stdout())]

    def boots(self):
        return [int(b) for b in STARTING.findall(self.proc.stderr())]

    def journaled(self):
        """{boot: highest seq} from the journal; a boot's seqs are 1..highest, each line whole."""
        top = {}
        if self.journal.exists():
            for line in self.journal.read_text().splitlines():
                boot, seq = (int(x) for x in line.split())
                top[boot] = max(top.get(boot, 0), seq)
        return top


class Stack:
    """The system under test and the faults applied to it."""

    def __init__(self, case, seed, devices, disk_full=True):
        self.case, self.seed = case, seed
        self.rng = random.Random(seed ^ 0x5EED)
        self.applied = {}
        self.killed_boots = 0  # boots without a summary line: their journal tells what they published
        self.local = case.start_broker("local")
        self.cloud = case.start_broker("cloud")
        case.local = self.local
        self.proxy = tcpchaos.TcpChaos(self.cloud.host, self.cloud.port).start()
        case.addCleanup(self.proxy.stop)
        self.tmpfs = None
        store_dir = case.work_dir / "store"
        if disk_full and powercut.Tmpfs.available() is None:
            self.tmpfs = powercut.Tmpfs(store_dir, "48m").mount()
            case.addCleanup(self.tmpfs.unmount)
        self.disk = powercut.Disk(store_dir, seed=seed)
        self.clock = case.work_dir / "clock"
        self.clock.write_text("+0\n")
        conf = {"cloud": {"host": self.proxy.host, "port": self.proxy.port, "puback_timeout": 3, "keepalive": 5},
                "gateway": {"health_interval": 0.5},
                "store": {"synchronous": "full", "min_free_bytes": 0}}
        self.config = fogstack.gateway_config(case.work_dir / "gw.toml", case.pki, self.local, self.cloud,
                                              self.disk.dir / "q.db", conf)
        self.received = case.collector(self.cloud, ["fogbridge/+/batch", "fogbridge/+/gaps"], clean_session=False)
        self.health = case.collector(self.local, f"gateways/{case.pki.gateway_id}/health")
        self.gateway = None
        self.start_gateway()
        fogstack.wait_gateway_online(case, self.local)
        self.boards = [Board(case, i, d) for i, d in enumerate(devices)]
        for b in self.boards:
            b.start()

    # -- the gateway

    def gateway_env(self):
        env = self.disk.start()
        env["LD_PRELOAD"] += f":{FAKETIME}"
        env.update({"FAKETIME_TIMESTAMP_FILE": str(self.clock), "FAKETIME_NO_CACHE": "1",
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        return env

    def start_gateway(self):
        if self.gateway is None:
            self.gateway = self.case.start_process([executable(fogstack.GATEWAY), "--config", str(self.config)],
                                                   name="gateway", env=self.gateway_env())
        else:
            self.gateway.env.update(self.gateway_env())
            self.gateway.start()

    def check_store(self):
        """integrity_check on a copy of the store as the cut left it."""
        copy = powercut.copy_for_check(self.disk.dir, self.case.work_dir / "check")
        con = sqlite3.connect(copy / "q.db")
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            result = str(e)
        finally:
            con.close()
        shutil.rmtree(copy, ignore_errors=True)
        return result

    def readings_at_cloud(self):
        return len(fogstack.batch_readings([m for m in self.received.messages() if m.topic.endswith("/batch")]))

    # -- faults

    def apply(self, fault):
        """Applies one fault and, when it holds, heals it after `hold` seconds."""
        self.case.assertTrue(self.gateway.running, f"before {fault}: the gateway had exited\n"
                                                   f"{self.gateway.output()[-3000:]}")
        getattr(self, "_" + fault.kind)(fault)
        self.applied[fault.kind] = self.applied.get(fault.kind, 0) + 1

    def _gateway_kill(self, _f):
        self.gateway.kill()
        self.start_gateway()

    def _power_cut(self, f):
        self.gateway.kill()
        report = self.disk.cut()
        result = self.check_store()
        self.case.assertEqual(result, "ok", f"{f}: integrity_check after the cut {report}")
        self.start_gateway()

    def _local_restart(self, _f):
        self.local.restart(kill=self.rng.random() < 0.5)

    def _cloud_restart(self, f):
        # A clean stop: a cloud broker that loses what it acknowledged is not the gateway's fault.
        self.cloud.stop()
        time.sleep(f.hold)
        self.cloud._auto_port = False  # the proxy knows this port
        self.cloud.start()

    def _freeze(self, broker, f):
        broker.sigstop()
        time.sleep(f.hold)
        broker.sigcont()

    def _local_freeze(self, f):
        self._freeze(self.local, f)

    def _cloud_freeze(self, f):
        self._freeze(self.cloud, f)

    def _uplink_partition(self, f):
        self.proxy.partition()
        time.sleep(f.hold)
        self.proxy.heal()

    def _uplink_delay(self, f):
        self.proxy.delay(f.arg)
        time.sleep(f.hold)
        self.proxy.heal()

    def _uplink_reset(self, _f):
        self.proxy.reset()

    def _disk_full(self, f):
        if self.tmpfs is None:
            self.applied["disk_full_skipped"] = self.applied.get("disk_full_skipped", 0) + 1
            return
        filler = self.tmpfs.fill()
        time.sleep(f.hold)
        filler.unlink()

    def _clock_step(self, f):
        self.clock.write_text(f"{f.arg:+d}\n")
        time.sleep(f.hold)
        self.clock.write_text("+0\n")

    def _board_reboot(self, f):
        board = self.boards[f.arg]
        board.proc.stop(timeout=10)  # SIGTERM: it flushes for up to 2 s, keeps the rest in its file
        time.sleep(f.hold)
        board.start()

    def _board_power_loss(self, f):
        board = self.boards[f.arg]
        board.proc.kill()
        time.sleep(f.hold)
        board.start()

    def run(self, faults, log):
        started = time.monotonic()
        for f in faults:
            time.sleep(max(0.0, f.at - (time.monotonic() - started)))
            log(f"chaos: {f}")
            self.apply(f)
        return time.monotonic() - started

    # -- the end

    def heal_and_flush(self):
        """Ends every fault, stops the boards (a last boot of each flushes its file buffer) and
        returns the (device, boot, seq) the boards published, from each boot's summary line and,
        for boots ended by SIGKILL (no summary), from the boards' journals; and those killed
        (device, boot). A kill between the buffer taking a reading and the journal line leaves
        that last reading out of the journal."""
        self.proxy.heal()
        self.clock.write_text("+0\n")
        for broker in (self.local, self.cloud):
            if broker.process.stopped:
                broker.sigcont()
            if not broker.running:
                broker._auto_port = False
                broker.start()
        if not self.gateway.running:
            self.start_gateway()
        fogstack.wait_gateway_online(self.case, self.local, timeout=scaled(30))
        start = self.readings_at_cloud()
        wait_until(lambda: self.readings_at_cloud() >= start + 100, 60, "streaming again after the faults")
        for b in self.boards:
            b.proc.stop(timeout=20)
            b.start(60, "--duration", 0.01)
        for b in self.boards:
            wait_until(lambda b=b: not b.proc.running, 90, f"{b.device} flushed")
        sent, killed = set(), set()
        for b in self.boards:
            sums = b.summaries()
            last = sums[-1]
            self.case.assertEqual(int(last[5]), 0, f"{b.device} still holds readings: {last}")
            journaled = b.journaled()
            summarised = {int(s[1]): int(s[2]) for s in sums}
            for boot, published in summarised.items():
                # The summary and the journal agree on every boot that ended with a summary.
                self.case.assertEqual(journaled.get(boot, 0), published, f"{b.device} boot {boot}")
            self.case.assertLessEqual(set(journaled), set(b.boots()), f"{b.device}: journal of unknown boots")
            for boot, top in journaled.items():
                sent |= {(b.device, boot, s) for s in range(1, top + 1)}
            killed |= {(b.device, boot) for boot in set(b.boots()) - set(summarised)}
        self.killed_boots = len(killed)
        return sent, killed

    def wait_drained(self):
        stopped = time.time()

        def drained():
            fresh = [h for h in (m.json() for m in self.health.messages()) if h["ts"] > stopped]
            return fresh and fresh[-1]["queue"]["readings"] == 0 and fresh[-1]["queue"]["leased_batches"] == 0
        wait_until(drained, 60, "an empty queue")

    def received_json(self):
        return [{"topic": m.topic, "payload": m.payload.decode()} for m in self.received.messages()]

    def write_received(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(m) + "\n" for m in self.received_json())
