"""Harness for fogbridge integration tests (unittest, run with /usr/bin/python3).

Real Mosquitto brokers on free loopback ports with configurations made from deploy/mosquitto/,
certificates from certs/make-certs.sh, programs started and stopped by PID, paho-mqtt clients
that record what they receive, bounded waits, and JSON Schema validation against schemas/.

Derive tests from FogTestCase: everything started through it is stopped in cleanup, even when
the test fails. Start processes from the test's (main) thread: children get SIGKILL when the
thread that started them exits, so an aborted test run leaves no broker behind.

Environment: FOGBRIDGE_BUILD_DIR (default build/dev, relative to the repository root),
FOGTEST_TIMEOUT_SCALE (multiplies every timeout, e.g. 5 under sanitizers), FOGTEST_KEEP=1
(keep the temporary directories and print where they are), FOGTEST_VERBOSE=1 (print the tail of
every process's log when a test finishes).

The harness lives in modules of its own, re-exported here so tests import everything from fogtest:
fogtest_base (paths, environment, ports, waits), fogtest_pki, fogtest_process, fogtest_broker and
fogtest_mqtt (clients, payload helpers); fogschema (schema validation, strict JSON).
"""

import pathlib
import shutil
import socket  # noqa: F401 - re-exported: tests use fogtest.socket, fogtest.ssl, fogtest.mqtt
import ssl  # noqa: F401
import sys
import tempfile
import unittest

import paho.mqtt.client as mqtt  # noqa: F401

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fogschema  # noqa: E402
from fogtest_base import (DEFAULT_DEVICES, DEFAULT_GATEWAY, KEEP, LOOPBACK, MAKE_CERTS,  # noqa: E402,F401
                          MOSQUITTO_TEMPLATES, REPO_ROOT, TIMEOUT_SCALE, VERBOSE, _tail, build_dir,
                          build_path, executable, free_port, mosquitto_binary, scaled, wait_until)
from fogtest_broker import Broker, fill_template  # noqa: E402,F401
from fogtest_mqtt import (ZSTD_MAGIC, Client, Collector, ConnectFailed, Message,  # noqa: E402,F401
                          batch_rows, inflate)
from fogtest_pki import Pki, make_pki  # noqa: E402,F401
from fogtest_process import Process  # noqa: E402,F401

# Re-exported: schema validation and strict JSON parsing (see fogschema.py).
validate = fogschema.validate
schema_errors = fogschema.errors
load_strict = fogschema.load_strict
loads_strict = fogschema.loads_strict


# --------------------------------------------------------------------------------------------
# Test case base


class FogTestCase(unittest.TestCase):
    """Base class: a PKI per test class, a work directory per test, and helpers that start
    brokers, processes and clients and register their cleanup (LIFO: clients close before
    brokers stop), so nothing outlives a test even when it fails."""

    devices = DEFAULT_DEVICES
    gateway_id = DEFAULT_GATEWAY

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"fogtest-{cls.__name__}-"))
        cls.pki = make_pki(cls.class_dir / "pki", cls.devices, cls.gateway_id)

    @classmethod
    def tearDownClass(cls):
        if KEEP:
            print(f"\nfogtest: kept {cls.class_dir}", file=sys.stderr)
        else:
            shutil.rmtree(cls.class_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.work_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self._testMethodName}-", dir=self.class_dir))
        self._processes = []
        if VERBOSE:
            self.addCleanup(self._print_logs)

    def _print_logs(self):
        for proc in self._processes:
            print(f"\n--- {proc.name} ({self.id()}) ---\n{_tail(proc.output(), 60)}", file=sys.stderr)

    def start_broker(self, kind="local", **kwargs):
        """A started Broker (see Broker for the arguments), stopped at cleanup."""
        broker = Broker(kind, self.work_dir, pki=self.pki, **kwargs)
        self.addCleanup(broker.kill)  # registered first, so it runs after stop()
        self.addCleanup(broker.stop)
        broker.start()
        self._processes.append(broker.process)
        return broker

    def start_process(self, args, name=None, env=None, cwd=None):
        """A started Process, stopped (SIGTERM, then SIGKILL) at cleanup."""
        proc = Process(args, self.work_dir, name=name, env=env, cwd=cwd)
        self.addCleanup(proc.kill)
        self.addCleanup(proc.stop)
        proc.start()
        self._processes.append(proc)
        return proc

    def client(self, broker, identity=None, **kwargs):
        """A connected Client, closed at cleanup."""
        c = Client(broker, identity, **kwargs)
        self.addCleanup(c.close)
        return c.connect()

    def collector(self, broker, topics, identity="observer", **kwargs):
        """A started Collector (default identity: the read-only observer), closed at cleanup."""
        c = Collector(broker, topics, identity, **kwargs)
        self.addCleanup(c.close)
        return c.start()

    def assert_schema(self, instance, schema_name):
        """validate() as a test assertion; returns the parsed instance."""
        return validate(instance, schema_name)
