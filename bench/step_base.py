"""What every step of the fogbridge benchmark shares (docs/benchmarks.md): the topics,
per_second, and BenchBase, the part of steps.Bench that holds the settings, the stack and the
progress line, and publishes backlogs and probes. Not thread-safe: one step at a time."""

import itertools
import random
import time

from benchlib import BenchError, Profiler, last_json, last_line

BATCH_TOPIC = "fogbridge/+/batch"
READINGS_TOPIC = "devices/+/readings"


def per_second(n, seconds):
    """n per second over `seconds`; None when no time passed."""
    return n / seconds if seconds and seconds > 0 else None


class BenchBase:
    """The settings (`args`), the `stack`, the `progress` line, a seeded rng, unique boot numbers
    and what one step leaves for another (`shared`)."""

    def __init__(self, args, stack, progress):
        self.a = args
        self.stack = stack
        self.progress = progress
        self.rng = random.Random(args.seed)
        self._boots = itertools.count(self.rng.randrange(1, 1 << 40))
        self.shared = {}  # what one step leaves for another (the step-2 gateway for step 5)
        self.profiler = Profiler(stack, args.perf)

    def boot(self):
        return str(next(self._boots))

    # ---------------------------------------------------------------------------------------
    # helpers

    def wait_process(self, proc, timeout, what, on_tick=None):
        deadline = time.monotonic() + timeout
        while proc.running:
            if time.monotonic() > deadline:
                raise BenchError(f"{what} did not finish within {timeout:.0f} s")
            if on_tick:
                on_tick()
            time.sleep(0.1)
        return proc.returncode

    def publish_backlog(self, local, d, n, boot):
        """Publishes n readings as fast as the broker takes them; returns the publisher's figures."""
        pub = self.stack.publish(local, d, "--devices", self.a.backlog_publishers, "--count", n,
                                 "--boot", boot, "--seed", self.a.seed, name="publish-backlog")

        def tick():
            line = last_line(pub.stdout_path, "progress ")
            if line:
                self.progress.update(f"building a backlog: {int(line.split()[3]):,}/{n:,} published")

        self.wait_process(pub, max(120, n / 2000), "the backlog publisher", tick)
        res = last_json(pub.stdout_path)
        if not res or res.get("acked", 0) < n:
            raise BenchError(f"the backlog publisher stopped short: {res} {pub.stderr()[-300:]}")
        return res

    def probe(self, local, sink, d, timeout=30):
        """One reading through the whole path: proves every link is up before measuring."""
        before = sink.counts()[1]
        deadline = time.monotonic() + timeout
        # A bridge drops what arrives before its subscription is in place: probe until one
        # gets through.
        while time.monotonic() < deadline:
            pub = self.stack.publish(local, d, "--devices", 1, "--count", 1, "--device-prefix",
                                     "probe", "--boot", self.boot(), name="probe")
            self.wait_process(pub, 30, "the probe publisher")
            if sink.wait_unique(before + 1, 2 + self.a.batch_delay) > before:
                return
        raise BenchError("a probe reading did not reach the cloud broker")
