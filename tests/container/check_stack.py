#!/usr/bin/python3
"""Checks a running compose stack from the host: subscribes to the cloud broker over mutual TLS
(observer certificate), waits for batches that carry readings of every board, and validates
every batch and health message against schemas/. Used by scripts/container-test.

usage: check_stack.py --port PORT --pki DIR [--host 127.0.0.1] [--gateway gw-01]
                      [--devices sensor-01,sensor-02,sensor-03] [--after EPOCH] [--timeout 120]
                      [--require-health]
--after: only readings stamped later than EPOCH count (to check that batches resume after a
restart). --require-health: also wait for the gateway's health message (sent every
health_interval). Exit 0 and one summary line when everything arrived; 1 with the reason
otherwise.
"""

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import fogtest  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pki", type=pathlib.Path, required=True)
    p.add_argument("--gateway", default="gw-01")
    p.add_argument("--prefix", default="fogbridge")
    p.add_argument("--devices", default=",".join(fogtest.DEFAULT_DEVICES))
    p.add_argument("--after", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--require-health", action="store_true")
    return p.parse_args()


def readings_by_device(messages, after):
    seen = {}
    for m in messages:
        for r in m.json()["readings"]:
            if r["ts"] > after:
                seen.setdefault(r["device"], []).append(r)
    return seen


def connect(args, base):
    """A started Collector on the cloud broker, or None; the broker may still be starting."""
    deadline = time.monotonic() + 30
    while True:
        collector = fogtest.Collector((args.host, args.port), [f"{base}/#"], tls=True,
                                      ca=str(args.pki / "ca.crt"),
                                      cert=str(args.pki / "observer.crt"),
                                      key=str(args.pki / "observer.key"))
        try:
            return collector.start(timeout=10)
        except (AssertionError, OSError, fogtest.ConnectFailed) as e:
            collector.close()
            if time.monotonic() >= deadline:
                print(f"check_stack: {e}")
                return None
            time.sleep(0.5)


def main():
    args = parse_args()
    devices = args.devices.split(",")
    base = f"{args.prefix}/{args.gateway}"
    started = time.monotonic()
    collector = connect(args, base)
    if collector is None:
        print(f"check_stack: FAILED: no connection to the cloud broker at {args.host}:{args.port}")
        return 1
    try:

        def batches():
            return collector.messages(f"{base}/batch")

        def complete():
            if args.require_health and not collector.messages(f"{base}/health"):
                return False
            return set(readings_by_device(batches(), args.after)) >= set(devices)

        try:
            fogtest.wait_until(complete, args.timeout, f"readings of {devices} in batches at {base}/batch"
                               + (" and a health message" if args.require_health else ""), interval=0.2)
        except AssertionError as e:
            got = sorted(readings_by_device(batches(), args.after))
            health = len(collector.messages(f"{base}/health"))
            print(f"check_stack: FAILED: {e} (batches: {len(batches())}, devices seen: {got}, "
                  f"health messages: {health})")
            return 1
        problems = []
        for m in batches():
            problems += [f"batch: {e}" for e in fogtest.schema_errors(m.json(), "batch")]
            if m.json()["gateway"] != args.gateway:
                problems.append(f"batch from gateway {m.json()['gateway']!r}")
        health = collector.messages(f"{base}/health")
        for m in health:
            problems += [f"health: {e}" for e in fogtest.schema_errors(m.json(), "health")]
        status = [m.payload for m in collector.messages(f"{base}/status")]
        if status and status[-1] != b"online":
            problems.append(f"status is {status[-1]!r}, not online")
        if problems:
            print("check_stack: FAILED: " + "; ".join(problems[:10]))
            return 1
        per_device = {d: len(rs) for d, rs in sorted(readings_by_device(batches(), args.after).items())}
        print("check_stack: ok: " + json.dumps({
            "seconds": round(time.monotonic() - started, 1), "batches": len(batches()),
            "readings": per_device, "health_messages": len(health),
            "status": status[-1].decode() if status else None}))
        return 0
    finally:
        collector.close()


if __name__ == "__main__":
    sys.exit(main())
