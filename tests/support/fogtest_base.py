"""The ground floor of the integration-test harness (fogtest): repository and build paths,
environment switches, free loopback ports and bounded waits. Stateless apart from the
environment it reads once; safe from any thread."""

import os
import pathlib
import shutil
import socket
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MAKE_CERTS = REPO_ROOT / "certs" / "make-certs.sh"
MOSQUITTO_TEMPLATES = REPO_ROOT / "deploy" / "mosquitto"
DEFAULT_DEVICES = ("sensor-01", "sensor-02", "sensor-03")
DEFAULT_GATEWAY = "gw-01"
LOOPBACK = "127.0.0.1"


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "false", "no")


# Processes built with the tsan preset read their suppressions from here (exit code 66 on a report).
os.environ.setdefault("TSAN_OPTIONS", f"suppressions={REPO_ROOT / 'tests' / 'tsan.supp'}")

TIMEOUT_SCALE = float(os.environ.get("FOGTEST_TIMEOUT_SCALE", "1") or "1")
KEEP = _env_flag("FOGTEST_KEEP")
VERBOSE = _env_flag("FOGTEST_VERBOSE")


def scaled(seconds):
    """A timeout adjusted by FOGTEST_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def build_dir():
    """The build directory: $FOGBRIDGE_BUILD_DIR, relative paths taken from the repository root."""
    path = pathlib.Path(os.environ.get("FOGBRIDGE_BUILD_DIR", "build/dev"))
    return path if path.is_absolute() else REPO_ROOT / path


def build_path(*parts):
    return build_dir().joinpath(*parts)


def executable(*parts):
    """Path of a built program (e.g. executable("gateway", "fogbridge")); fails clearly if missing."""
    path = build_path(*parts)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{path} is not a built executable (build first, or set FOGBRIDGE_BUILD_DIR)")
    return str(path)


def mosquitto_binary():
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        raise FileNotFoundError("mosquitto not found (install the mosquitto package)")
    return found


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, what="the condition", interval=0.01):
    """Polls predicate until it returns something truthy and returns that; raises AssertionError
    naming `what` after timeout seconds (scaled by FOGTEST_TIMEOUT_SCALE)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {scaled(timeout):g}s waiting for {what}")
        time.sleep(interval)


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])
