"""Programs run by integration tests (part of fogtest): a Process with its output captured to
files, stopped by PID, killed with the harness (setpriv --pdeathsig) or at exit. Not thread-safe:
drive a Process from the test's thread."""

import atexit
import collections
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import weakref

from fogtest_base import _tail, scaled, wait_until

_live_processes = weakref.WeakSet()


@atexit.register
def _kill_leftovers():
    for proc in list(_live_processes):
        proc.kill()


_SETPRIV = shutil.which("setpriv")


def _proc_state(pid):
    """The state letter from /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' zombie ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


class Process:
    """One program run with stdout/stderr captured to files; stopped by PID.

    Not thread-safe: drive it from the test's thread.
    """

    _names = collections.Counter()

    def __init__(self, args, log_dir, name=None, env=None, cwd=None):
        self.args = [str(a) for a in args]
        base = name or pathlib.Path(self.args[0]).name
        Process._names[base] += 1
        self.name = base if Process._names[base] == 1 else f"{base}-{Process._names[base]}"
        self.log_dir = pathlib.Path(log_dir)
        self.stdout_path = self.log_dir / f"{self.name}.stdout"
        self.stderr_path = self.log_dir / f"{self.name}.stderr"
        self.env = None if env is None else {**os.environ, **{k: str(v) for k, v in env.items()}}
        self.cwd = cwd
        self.popen = None
        self._files = []

    # -- lifecycle

    def start(self):
        """Starts the program (again, after a stop: the logs are appended to). Returns self."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._close_files()
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        self._files = [out, err]
        # setpriv keeps the PID (it execs) and makes the kernel kill the child with the harness.
        wrapper = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
        self.popen = subprocess.Popen(wrapper + self.args, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=err, env=self.env, cwd=self.cwd, start_new_session=True)
        _live_processes.add(self)
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self):
        """None while running; negative -N when killed by signal N (Popen's convention)."""
        return self.popen.poll() if self.popen else None

    def signal(self, sig):
        if self.running:
            os.kill(self.popen.pid, sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code. Safe to repeat."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGCONT)  # a stopped process only acts on SIGTERM once continued
            try:
                self.popen.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._close_files()
        _live_processes.discard(self)
        return self.popen.returncode

    def kill(self):
        """SIGKILL and reap. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._close_files()
        _live_processes.discard(self)
        return self.popen.returncode

    def sigstop(self):
        """Freezes the process and waits until the kernel reports it stopped."""
        self.signal(signal.SIGSTOP)
        wait_until(lambda: _proc_state(self.pid) == "T", 5, f"{self.name} to be stopped")

    def sigcont(self):
        self.signal(signal.SIGCONT)
        wait_until(lambda: _proc_state(self.pid) != "T", 5, f"{self.name} to continue")

    @property
    def stopped(self):
        """True while frozen by SIGSTOP."""
        return self.running and _proc_state(self.pid) == "T"

    def wait(self, timeout=10.0):
        """Waits for the process to exit by itself; returns the exit code."""
        try:
            code = self.popen.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {scaled(timeout):g}s\n"
                                 f"{_tail(self.output())}") from None
        self._close_files()
        _live_processes.discard(self)
        return code

    def _close_files(self):
        for f in self._files:
            f.close()
        self._files = []

    # -- output

    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def output(self):
        """stdout then stderr."""
        return self.stdout() + self.stderr()

    def mark(self):
        """A position in the logs; pass it as since= to wait_for_log to skip what came before."""
        return (len(self.stdout()), len(self.stderr()))

    def wait_for_log(self, regex, timeout=10.0, since=None, stream="both"):
        """Waits until regex (re.MULTILINE) matches stdout or stderr ("stdout", "stderr", "both")
        after position since; returns the match. Fails at once if the process has exited."""
        pattern = re.compile(regex, re.MULTILINE)
        since = since or (0, 0)

        def search():
            texts = []
            if stream in ("stdout", "both"):
                texts.append(self.stdout()[since[0]:])
            if stream in ("stderr", "both"):
                texts.append(self.stderr()[since[1]:])
            for text in texts:
                m = pattern.search(text)
                if m:
                    return m
            return None

        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = search()
            if m:
                return m
            if not self.running:
                m = search()  # the last words may have landed after the previous look
                if m:
                    return m
                raise AssertionError(f"{self.name} exited ({self.returncode}) without logging "
                                     f"/{regex}/:\n{_tail(self.output())}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {scaled(timeout):g}s waiting for {self.name} "
                                     f"to log /{regex}/:\n{_tail(self.output())}")
            time.sleep(0.01)
