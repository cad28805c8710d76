"""Plumbing for the fogbridge benchmark (bench/bench.py): processes, brokers, gateways, the C++
helper programs, and what the kernel says about them (/proc CPU and memory, `ss` byte counters).

Builds on tests/support/fogtest.py (brokers from deploy/mosquitto templates, the PKI, processes
stopped by PID with a parent-death signal) and fogstack.py (gateway configuration). Everything
started through a Stack is stopped by Stack.close(), also after Ctrl-C.

The plumbing lives in bench_common (BenchError, progress, /proc and `ss` figures, statistics, log
tails) and bench_stack (Stack, Sink, Gateway, StoreWatch, Profiler); this module re-exports both,
so the steps import everything from benchlib.
"""

import signal
import tomllib

from bench_common import (CLK_TCK, LOOPBACK, REPO, BenchError, Progress, cpu_seconds,  # noqa: F401
                          last_json, last_line, memory_kb, percentile, slope, tcp_bytes, thread_cpu,
                          thread_delta)
from bench_stack import Gateway, Profiler, Sink, Stack, StoreWatch, pki_dir  # noqa: F401


def example_filter(path=None):
    """filter.default and filter.rules of a TOML file (default: the example configuration,
    gateway/config/fogbridge.example.toml)."""
    path = path or REPO / "gateway" / "config" / "fogbridge.example.toml"
    with open(path, "rb") as f:
        conf = tomllib.load(f)
    filt = conf.get("filter", {})
    return filt.get("default", {"deadband": 0, "heartbeat": 600}), filt.get("rules", [])


def install_sigterm_as_interrupt():
    def handler(_sig, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
