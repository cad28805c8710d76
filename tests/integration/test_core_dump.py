#!/usr/bin/python3
"""Fail closed and no secrets in core dumps: an empty CA file is a start-up error unless the
config asks for plain TCP; the gateway makes itself non-dumpable (PR_SET_DUMPABLE 0) before it
reads a secret, which also hands its /proc entries to root."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogstack  # noqa: E402
import fogtest  # noqa: E402
from fogtest import FogTestCase, wait_until  # noqa: E402

NOBODY = 65534


class CoreDumpTest(FogTestCase):
    def write_config(self, local, cloud, store, directory=None):
        lines = ["[gateway]", 'id = "gw-01"', "[local]", f'port = {fogtest.free_port()}']
        lines += [f"{k} = {fogstack.toml_value(v)}" for k, v in local.items()]
        lines += ["[cloud]", f"port = {fogtest.free_port()}"]
        lines += [f"{k} = {fogstack.toml_value(v)}" for k, v in cloud.items()]
        lines += ["[store]", f"path = {fogstack.toml_value(store)}"]
        path = (directory or self.work_dir) / "gw.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def check_config(self, config):
        return subprocess.run([str(fogtest.executable(fogstack.GATEWAY)), "--config", str(config),
                               "--check-config"], capture_output=True, text=True, timeout=30)

    def test_an_empty_ca_file_is_an_error_unless_plain_tcp_is_said(self):
        store = self.work_dir / "q.db"
        tls = {"ca_file": str(self.pki.ca)}
        for link in ("local", "cloud"):
            with self.subTest(link=link):
                sides = {"local": dict(tls), "cloud": dict(tls)}
                sides[link] = {"ca_file": ""}
                r = self.check_config(self.write_config(sides["local"], sides["cloud"], store))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr.strip().splitlines(), [
                    f"fogbridge: configuration: {link}.ca_file: must name the broker's CA file "
                    f"(for an unencrypted link set {link}.plain_tcp = true)"])
        r = self.check_config(self.write_config({"plain_tcp": True}, {"plain_tcp": True}, store))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.check_config(self.write_config({"plain_tcp": True, **tls}, tls, store))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("local.plain_tcp: true, but local.ca_file is set", r.stderr)

    def test_check_config_reports_core_dumps_off(self):
        config = self.write_config({"ca_file": str(self.pki.ca)}, {"ca_file": str(self.pki.ca)},
                                   self.work_dir / "q.db")
        r = self.check_config(config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("core dumps and ptrace by other users: off", r.stdout)

    def test_a_running_gateway_is_not_dumpable(self):
        """Non-dumpable: the kernel makes /proc/<pid>/ entries root's even though the process
        runs as another user. As root the gateway is started as nobody to see it."""
        as_root = os.geteuid() == 0
        # The test's own directories are private; nobody needs one it can reach.
        shared = pathlib.Path(tempfile.mkdtemp(prefix="fogtest-dumpable-"))
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o777)
        # No broker answers: the gateway keeps retrying, which is all this test needs of it.
        config = self.write_config({"plain_tcp": True}, {"plain_tcp": True}, shared / "q.db", shared)
        os.chmod(config, 0o644)
        cmd = [str(fogtest.executable(fogstack.GATEWAY)), "--config", str(config)]
        if as_root:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"] + cmd
        gw = self.start_process(cmd, name="gateway")
        uid = NOBODY if as_root else os.getuid()

        def running_as_uid():
            try:
                status = pathlib.Path(f"/proc/{gw.pid}/status").read_text()
            except OSError:
                return False
            line = next(x for x in status.splitlines() if x.startswith("Uid:"))
            return int(line.split()[1]) == uid and "fogbridge" in status.splitlines()[0]
        wait_until(running_as_uid, fogtest.scaled(10), "the gateway running as its user")
        gw.wait_for_log(r"cloud\.plain_tcp = true", 10)  # past reading the configuration
        self.assertTrue(gw.running, gw.output())
        self.assertEqual(os.stat(f"/proc/{gw.pid}/environ").st_uid, 0)
        self.assertNotEqual(uid, 0)


if __name__ == "__main__":
    unittest.main()
