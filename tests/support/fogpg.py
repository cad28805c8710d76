"""A private PostgreSQL 15 server for fogbridge tests, the demo and the bench.

initdb into a directory of its own, postgres on a free loopback port (and a private unix socket
directory), trust authentication for the local superuser "postgres", stopped by PID. PostgreSQL
refuses to run as root, so when the harness is root the server runs as the unprivileged user
`nobody` (setpriv), with its directory handed to that user. Debian's binaries are used
(/usr/lib/postgresql/15/bin, or FOGPG_BIN). psql answers through query().
"""
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fogtest  # noqa: E402

PG_BIN = pathlib.Path(os.environ.get("FOGPG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "nobody"


def available():
    return (PG_BIN / "postgres").is_file() and (PG_BIN / "initdb").is_file()


def _user_prefix():
    """setpriv to an unprivileged user when we are root; nothing otherwise."""
    if os.geteuid() != 0:
        return [], None
    pw = pwd.getpwnam(RUN_AS)
    # The uid change clears a parent-death signal set before it; setpriv sets this one after.
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
            "--pdeathsig", "KILL", "--"], pw


def _psql_binary():
    return shutil.which("psql") or str(PG_BIN / "psql")


class Postgres:
    """One PostgreSQL server. start() runs initdb the first time; stop() / kill() / start() keep
    the data. Not thread-safe: drive it from the test's thread."""

    def __init__(self, root=None, name="postgres", port=None):
        self._own_root = root is None
        self.root = pathlib.Path(root or tempfile.mkdtemp(prefix="fogpg-")).resolve()
        self.name = name
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_dir = self.root / "logs"
        self.port = port or fogtest.free_port()
        self.host = fogtest.LOOPBACK
        self.process = None
        self.user = "postgres"

    @property
    def conninfo(self):
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres connect_timeout=5"

    def _prepare(self):
        prefix, pw = _user_prefix()
        for d in (self.root, self.sockets, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        if pw is not None:
            # The server's user must reach its directory through every parent.
            os.chmod(self.root, 0o755)
            for d in (self.root, self.sockets, self.log_dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            parent = self.root.parent
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = parent.parent
        if not (self.data / "PG_VERSION").exists():
            done = subprocess.run(prefix + [str(PG_BIN / "initdb"), "-D", str(self.data), "-U",
                                            self.user, "--auth=trust", "--no-sync", "-E", "UTF8",
                                            "--locale=C"],
                                  capture_output=True, text=True, timeout=fogtest.scaled(120),
                                  cwd=self.root, env={**os.environ, "HOME": str(self.root)})
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        return prefix

    def start(self, timeout=30.0):
        prefix = self._prepare()
        args = prefix + [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                         "-k", str(self.sockets), "-c", f"listen_addresses={self.host}",
                         "-c", "fsync=off", "-c", "full_page_writes=off",
                         "-c", "max_connections=50", "-c", "shared_buffers=64MB"]
        if self.process is None:
            self.process = fogtest.Process(args, self.log_dir, name=self.name, cwd=self.root,
                                           env={"HOME": str(self.root)})
        self.process.start()
        fogtest.wait_until(self.ready, timeout, f"{self.name} to accept connections", interval=0.1)
        return self

    def ready(self):
        if not self.process or not self.process.running:
            if self.process and self.process.returncode is not None:
                raise RuntimeError(f"{self.name} exited: {self.process.output()[-2000:]}")
            return False
        done = subprocess.run([str(PG_BIN / "pg_isready"), "-h", self.host, "-p", str(self.port),
                               "-U", self.user, "-t", "1"], capture_output=True)
        return done.returncode == 0

    @property
    def running(self):
        return self.process is not None and self.process.running

    def stop(self, timeout=30.0):
        """Fast shutdown (SIGINT: aborts open transactions, closes connections)."""
        if self.running:
            self.process.signal(signal.SIGINT)
            try:
                self.process.popen.wait(fogtest.scaled(timeout))
            except subprocess.TimeoutExpired:
                pass
        if self.process:
            self.process.stop()

    def kill(self):
        if self.process:
            self.process.kill()
            # Its children (backends) notice the postmaster is gone and exit.
            pid_file = self.data / "postmaster.pid"
            deadline = time.monotonic() + fogtest.scaled(10)
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)

    def cleanup(self):
        self.stop()
        if self._own_root and not fogtest.KEEP:
            shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql, timeout=60.0):
        """Runs sql with psql; returns the rows as lists of strings (unaligned, tab-separated)."""
        done = subprocess.run([_psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F",
                               "\t", "-d", self.conninfo, "-c", sql],
                              capture_output=True, text=True, timeout=fogtest.scaled(timeout))
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None


# --------------------------------------------------------------------------------------------
# fogbridge-sink

SINK = "sink/fogbridge-sink"


def sink_config(path, pg, cloud, pki, schema="fogbridge", identity="observer", client_id="sink-1",
                sections=None):
    """Writes a fogbridge-sink TOML file for a cloud Broker and a Postgres; `sections` overrides
    keys per section. The observer identity may read the cloud broker's topics."""
    import fogstack
    crt, key = pki.identity(identity)
    conf = {
        "mqtt": {"host": cloud.host, "port": cloud.port, "client_id": client_id,
                 "ca_file": str(pki.ca), "cert_file": crt, "key_file": key, "keepalive": 10},
        "database": {"conninfo": pg.conninfo, "schema": schema},
        "sink": {"reconnect_min": 0.1, "reconnect_max": 1.0},
        "metrics": {"port": 0},
    }
    for section, values in (sections or {}).items():
        conf.setdefault(section, {}).update(values)
    lines = []
    for section, values in conf.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {fogstack.toml_value(v)}" for k, v in values.items()]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return path


class Sink:
    """A fogbridge-sink process started by a FogTestCase, with its metrics endpoint."""

    def __init__(self, case, config, name="sink"):
        self.case = case
        self.config = config
        self.name = name
        self.process = None
        self.metrics_port = None

    def start(self, wait_connected=True):
        mark = self.process.mark() if self.process else None
        if self.process is None:
            self.process = self.case.start_process([fogtest.executable(SINK), "--config",
                                                    str(self.config)], name=self.name)
        else:
            self.process.start()
        m = self.process.wait_for_log(r"metrics on http://[^:]+:(\d+)/metrics", 15, since=mark)
        self.metrics_port = int(m.group(1))
        if wait_connected:
            self.process.wait_for_log(r"broker .* connected", 15, since=mark)
        return self

    def metrics(self):
        """The /metrics page as {name or name{labels}: value}; {} when it does not answer."""
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def metric(self, name):
        return self.metrics().get(name, 0.0)
