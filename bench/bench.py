#!/usr/bin/python3
"""fogbridge benchmark: every figure in one run, printed as a table and written as
JSON. Run it through scripts/bench (which builds the release preset first). See
docs/benchmarks.md for what each step does and what limits each figure."""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from benchlib import REPO, BenchError, Progress, Stack, install_sigterm_as_interrupt  # noqa: E402
from steps import Bench  # noqa: E402
import step_fleet  # noqa: E402
import step_pod  # noqa: E402

STEPS = {
    "1": "ceiling: bare subscriber drains the backlog",
    "2": "gateway drains the same backlog",
    "5": "store drains to the cloud after an outage",
    "3": "live load: the gateway, then Mosquitto's bridge",
    "4": "bytes upstream per reading",
    "8": "forwarding capacity from a backlog: the gateway, then Mosquitto's bridge",
    "7": "a fleet of gateways",
    "9": "fogbridge-sink into PostgreSQL against PostgreSQL's own COPY",
    "10": step_fleet.NAME,
    "pod": "within the K3s pod limits: the gateway, then Mosquitto's bridge",
}
ORDER = ["1", "2", "5", "3", "4", "8", "7", "9", "10", "pod"]  # 5 continues the gateway of 2; 6 is measured along


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark fogbridge against a bare subscriber and Mosquitto's bridge "
                    "(see docs/benchmarks.md). Measures; never fails on a slow figure.")
    p.add_argument("--quick", action="store_true", help="every step with small sizes (< 2 min)")
    p.add_argument("--out", default="bench-results.json", help="JSON results file")
    p.add_argument("--n", type=int, help="backlog size for steps 1, 2, 5 (1000000; quick 30000)")
    p.add_argument("--seed", type=int, default=1, help="seed of values and boot ids")
    p.add_argument("--rounds", type=int, help="paired runs of steps 1 and 2; the median ratio's "
                   "round is reported (3; quick 1)")
    p.add_argument("--steps", default=",".join(ORDER), help="steps to run, e.g. 1,2,5 (order: "
                   + ",".join(ORDER) + ")")
    p.add_argument("--recording", help="occupancy recording to replay (default "
                   "data/occupancy/datatraining.txt of the repository)")
    p.add_argument("--rules", help="TOML file whose [filter.default] and [[filter.rules]] replace "
                   "the example config's in the filtered recording runs")
    p.add_argument("--rec-devices", type=int, help="devices replaying the recording (3; quick 2)")
    p.add_argument("--rec-count", type=int, help="readings per replaying device (0: all)")
    p.add_argument("--live-devices", type=int, default=8, help="publisher connections (8)")
    p.add_argument("--phase-seconds", type=float, help="seconds at 1k/s and 10k/s (20; quick 3)")
    p.add_argument("--hold", type=float, help="seconds flat out (60; quick 5)")
    p.add_argument("--bridge-hold", type=float, help="seconds the bridge runs flat out (30; quick 4)")
    p.add_argument("--n-bytes", type=int, help="readings of the zstd bytes run (200000; quick 10000)")
    p.add_argument("--n-forward", type=int, help="backlog each forwarder moves in step 8 "
                   "(200000; quick 10000)")
    p.add_argument("--fleet-gateways", type=int, help="gateways in the fleet (3; quick 2)")
    p.add_argument("--fleet-devices", type=int, help="devices per fleet gateway (4; quick 2)")
    p.add_argument("--fleet-rate", type=float, default=50, help="fleet: readings/s per sensor (50)")
    p.add_argument("--fleet-seconds", type=float, help="fleet: seconds of load (20; quick 3)")
    p.add_argument("--n-sink", type=int, help="readings step 9 writes into PostgreSQL "
                   "(200000; quick 10000)")
    p.add_argument("--batch-delay", type=float, default=1.0,
                   help="gateway batch.max_delay (1.0, the example config's)")
    p.add_argument("--drain-compression", default="none", choices=("none", "zstd"),
                   help="cloud.compression of the backlog-drain gateway (none, the default)")
    p.add_argument("--gateway-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a key in every gateway's configuration, e.g. "
                        "store.synchronous=normal (repeatable; VALUE is read as JSON, else text)")
    p.add_argument("--backlog-publishers", type=int, default=4, help="connections that build a backlog")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds left out of each live window")
    p.add_argument("--build-dir", default=str(REPO / "build" / "release"))
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, stores)")
    p.add_argument("--perf", action="store_true",
                   help="profile the gateway (and the bridge) with perf record during the drain, "
                        "backlog and flat-out windows; keeps the work directory")
    step_fleet.add_args(p)
    step_pod.add_args(p)
    a = p.parse_args(argv)
    step_pod.set_defaults(a)
    q = a.quick
    a.n = a.n or (30_000 if q else 1_000_000)
    a.rounds = a.rounds or (1 if q else 3)
    a.rec_devices = a.rec_devices or (2 if q else 3)
    a.rec_count = a.rec_count if a.rec_count is not None else (2000 if q else 0)
    a.phase_seconds = a.phase_seconds or (3 if q else 20)
    a.hold = a.hold or (5 if q else 60)
    a.bridge_hold = a.bridge_hold or (4 if q else 30)
    a.n_bytes = a.n_bytes or (10_000 if q else 200_000)
    a.n_forward = a.n_forward or (10_000 if q else 200_000)
    a.fleet_gateways = a.fleet_gateways or (2 if q else 3)
    a.fleet_devices = a.fleet_devices or (2 if q else 4)
    a.fleet_seconds = a.fleet_seconds or (3 if q else 20)
    a.n_sink = a.n_sink or (10_000 if q else 200_000)
    step_fleet.finish_args(a)
    a.idle_wait = 1.0 if q else 3.0
    a.live_phases = [("1k", 1000, a.phase_seconds), ("10k", 10000, a.phase_seconds),
                     ("flat-out", 0, a.hold)]
    if a.recording is None:
        default = REPO / "data" / "occupancy" / "datatraining.txt"
        a.recording = str(default) if default.exists() else ""
    elif not pathlib.Path(a.recording).is_file():
        p.error(f"--recording {a.recording}: no such file")
    a.keep = a.keep or a.perf
    if a.rules and not pathlib.Path(a.rules).is_file():
        p.error(f"--rules {a.rules}: no such file")
    a.gateway_overrides = {}
    for item in a.gateway_set:
        key, sep, value = item.partition("=")
        section, dot, name = key.rpartition(".")
        if not sep or not dot or not section or not name:
            p.error(f"--gateway-set {item}: expected SECTION.KEY=VALUE")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        a.gateway_overrides.setdefault(section, {})[name] = parsed
    a.steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    unknown = [s for s in a.steps if s not in STEPS]
    if unknown:
        p.error(f"unknown step(s) {', '.join(unknown)} (known: {', '.join(ORDER)}; 6 runs along)")
    if "5" in a.steps and "2" not in a.steps:
        p.error("step 5 drains the backlog that step 2 leaves: run 2 as well")
    return a


# --------------------------------------------------------------------------------------------
# Results


def ratio(a, b):
    return a / b if a is not None and b else None


def derive(r, a):
    """The headline keys from the step figures."""
    r["drain_ratio"] = ratio(r.get("gateway_drain_rps"), r.get("ceiling_rps"))
    r["drain_ratio_true"] = ratio(r.get("gateway_drain_rps"), r.get("true_ceiling_rps"))
    r["live_ratio"] = ratio(r.get("gateway_live_rps"), r.get("bridge_rps"))
    r["forward_ratio"] = ratio(r.get("gateway_forward_rps"), r.get("bridge_forward_rps"))
    for suffix in ("_to_nth", "_from_start"):
        r["forward_ratio" + suffix] = ratio(r.get(f"gateway_forward_rps{suffix}"),
                                            r.get(f"bridge_forward_rps{suffix}"))
    if r.get("rss_backlog_hwm_kb") is not None:
        r["rss_backlog_kb"] = max(r["rss_backlog_hwm_kb"], r.get("rss_backlog_kb") or 0)
    cpu = [r.get("gateway_drain_cpu_s_per_100k"), r.get("backlog_drain_cpu_s_per_100k")]
    if all(c is not None for c in cpu):
        r["cpu_s_per_100k"] = sum(cpu)
    elif r.get("gateway_live_cpu_s_per_100k") is not None:
        r["cpu_s_per_100k"] = r["gateway_live_cpu_s_per_100k"]
    bridge_rec = r.get("bytes_per_reading_bridge_recording") or r.get("bytes_per_reading_bridge")
    r["bytes_ratio_passthrough"] = ratio(r.get("bytes_per_reading_gateway_passthrough"),
                                         r.get("bytes_per_reading_bridge"))
    r["bytes_ratio_filtered"] = ratio(r.get("bytes_per_reading_gateway_filtered"), bridge_rec)
    r["p99_goal_ms"] = a.batch_delay * 1000 + 20
    for key in ("ceiling_rps", "gateway_drain_rps", "drain_ratio", "true_ceiling_rps", "drain_ratio_true", "bridge_rps",
                "gateway_live_rps", "live_ratio", "bytes_per_reading_bridge",
                "bytes_per_reading_gateway_passthrough", "bytes_per_reading_gateway_filtered",
                "p99_ms_at_10k", "backlog_drain_rps", "rss_idle_kb", "rss_backlog_kb",
                "cpu_s_per_100k", "gateway_forward_rps", "bridge_forward_rps", "forward_ratio",
                "pod_live_rps", "pod_bridge_rps"):
        r.setdefault(key, None)


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if unit == "%":
        return f"{v * 100:.0f} %"
    if unit == "x":
        return f"{v:.3f}"
    if unit == "MB":
        return f"{v / 1024:.1f} MB"
    if isinstance(v, float) and abs(v) < 100:
        return f"{v:.2f}"
    return f"{v:,.0f}"


def goal(v, op, limit):
    if v is None:
        return ""
    ok = v >= limit if op == ">=" else v <= limit
    return "met" if ok else "NOT met"


def phase(r, label):
    return next((p for p in r.get("live_phases", []) if p["label"] == label), {})


def table(r, a):
    p1k, p10k, pmax = phase(r, "1k"), phase(r, "10k"), phase(r, "flat-out")
    kb = 1024
    rows = [
        ("1", "ceiling: bare subscriber drain", fmt(r.get("ceiling_rps")), "readings/s", "", ""),
        ("1", "true ceiling: gateway's MQTT client alone", fmt(r.get("true_ceiling_rps")), "readings/s", "", ""),
        ("2", "gateway drain (commit, sync full)", fmt(r.get("gateway_drain_rps")), "readings/s", "", ""),
        ("2", "  ratio to the ceiling", fmt(r.get("drain_ratio"), "x"), "", ">= 0.9",
         goal(r.get("drain_ratio"), ">=", 0.9)),
        ("2", "  ratio to the true ceiling", fmt(r.get("drain_ratio_true"), "x"), "", ">= 0.9",
         goal(r.get("drain_ratio_true"), ">=", 0.9)),
        ("3", "live 1k/s: p50 / p99 / max", "/".join(fmt(p1k.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")), "ms", "", ""),
        ("3", "live 10k/s: p50 / p99 / max", "/".join(fmt(p10k.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")), "ms",
         f"p99 <= {r['p99_goal_ms']:.0f}", goal(r.get("p99_ms_at_10k"), "<=", r["p99_goal_ms"])),
        ("3", "live 10k/s: rate delivered", fmt(p10k.get("delivered_rps")), "readings/s", "", ""),
        ("3", f"live flat out ({a.hold:.0f} s): delivered", fmt(r.get("gateway_live_rps")), "readings/s", "", ""),
        ("3", "  offered by the publishers", fmt(r.get("gateway_live_offered_rps")), "readings/s", "", ""),
        ("3", "  queue held (did not grow)", fmt(r.get("gateway_live_held")), "", "", ""),
        ("3", "  flat out: p50 / p99", "/".join(fmt(pmax.get(k)) for k in ("p50_ms", "p99_ms")), "ms", "", ""),
        ("4", f"Mosquitto bridge flat out ({a.bridge_hold:.0f} s): delivered", fmt(r.get("bridge_rps")), "readings/s", "", ""),
        ("4", "  bridge queue held / lost", f"{fmt(r.get('bridge_held'))} / {fmt(r.get('bridge_lost'))}", "", "", ""),
        ("4", "  gateway / bridge (live rate)", fmt(r.get("live_ratio"), "x"), "", ">= 2",
         goal(r.get("live_ratio"), ">=", 2)),
        ("4", "bytes/reading: bridge (synthetic)", fmt(r.get("bytes_per_reading_bridge")), "B", "", ""),
        ("4", "  gateway pass-through, none", fmt(r.get("bytes_per_reading_gateway_passthrough_none")), "B", "", ""),
        ("4", "  gateway pass-through, zstd", fmt(r.get("bytes_per_reading_gateway_passthrough")), "B",
         "<= 0.1 x bridge", goal(r.get("bytes_ratio_passthrough"), "<=", 0.1)),
        ("4", "bytes/reading: bridge (recording)", fmt(r.get("bytes_per_reading_bridge_recording")), "B", "", ""),
        ("4", "  gateway example rules, zstd", fmt(r.get("bytes_per_reading_gateway_filtered")), "B",
         "<= 0.02 x bridge", goal(r.get("bytes_ratio_filtered"), "<=", 0.02)),
        ("4", "  gateway example rules, none", fmt(r.get("bytes_per_reading_gateway_filtered_none")), "B", "", ""),
        ("4", "  gateway pass-through, zstd", fmt(r.get("bytes_per_reading_gateway_recording_passthrough_zstd")), "B", "", ""),
        ("4", "  columnar pass-through, zstd", fmt(r.get("bytes_per_reading_columnar_passthrough_zstd")), "B",
         "<= 2.5 B", goal(r.get("bytes_per_reading_columnar_passthrough_zstd"), "<=", 2.5)),
        ("4", "  columnar example rules, zstd", fmt(r.get("bytes_per_reading_columnar_filtered_zstd")), "B",
         "<= 0.4 B", goal(r.get("bytes_per_reading_columnar_filtered_zstd"), "<=", 0.4)),
        ("4", "  readings kept by the rules", fmt(r.get("recording_kept_fraction"), "%"), "", "", ""),
        ("5", "backlog drain to the cloud", fmt(r.get("backlog_drain_rps")), "readings/s", ">= 50,000",
         goal(r.get("backlog_drain_rps"), ">=", 50_000)),
        ("6", "RSS at rest", fmt(r.get("rss_idle_kb"), "MB"), "", "<= 16 MB", goal(r.get("rss_idle_kb"), "<=", 16 * kb)),
        ("6", "RSS peak under live load", fmt(r.get("rss_load_kb"), "MB"), "", "", ""),
        ("6", f"RSS peak with a backlog of {a.n:,}", fmt(r.get("rss_backlog_kb"), "MB"), "", "<= 64 MB",
         goal(r.get("rss_backlog_kb"), "<=", 64 * kb)),
        ("6", "CPU per 100k (ingest + uplink)", fmt(r.get("cpu_s_per_100k")), "s", "", ""),
        ("6", "  ingest+commit / uplink / live", "/".join(fmt(r.get(k)) for k in (
            "gateway_drain_cpu_s_per_100k", "backlog_drain_cpu_s_per_100k",
            "gateway_live_cpu_s_per_100k")), "s", "", ""),
        ("7", f"fleet {r.get('fleet_gateways', '-')} gw x {r.get('fleet_devices_per_gateway', '-')} dev: rate",
         fmt(r.get("fleet_rps")), "readings/s", "", ""),
        ("7", "  arrived / published", f"{fmt(r.get('fleet_arrived'))} / {fmt(r.get('fleet_published'))}", "", "", ""),
        ("7", "  p50 / p99", f"{fmt(r.get('fleet_p50_ms'))} / {fmt(r.get('fleet_p99_ms'))}", "ms", "", ""),
        ("8", f"forward a backlog of {a.n_forward:,}: gateway", fmt(r.get("gateway_forward_rps")),
         "readings/s", "", ""),
        ("8", "  Mosquitto bridge", fmt(r.get("bridge_forward_rps")), "readings/s", "", ""),
        ("8", "  gateway / bridge (forward rate)", fmt(r.get("forward_ratio"), "x"), "", ">= 2",
         goal(r.get("forward_ratio"), ">=", 2)),
        ("8", "  to the Nth arrival: gateway / bridge", "/".join(fmt(r.get(k)) for k in (
            "gateway_forward_rps_to_nth", "bridge_forward_rps_to_nth")), "readings/s", "", ""),
        ("8", "  from the start: gateway / bridge", "/".join(fmt(r.get(k)) for k in (
            "gateway_forward_rps_from_start", "bridge_forward_rps_from_start")), "readings/s",
         "", ""),
        ("8", "  lost: gateway / bridge", "/".join(fmt(r.get(k)) for k in (
            "gateway_forward_lost", "bridge_forward_lost")), "", "", ""),
        ("9", f"fogbridge-sink into PostgreSQL ({a.n_sink:,} rows)", fmt(r.get("sink_rps")),
         "readings/s", "", ""),
        ("9", "  PostgreSQL's own COPY, same table and key", fmt(r.get("sink_copy_ceiling_rps")),
         "readings/s", "", ""),
        ("9", "  sink / COPY (sink_ratio)", fmt(r.get("sink_ratio"), "x"), "", "", ""),
        ("9", "  sink CPU per 100k rows", fmt(r.get("sink_cpu_s_per_100k")), "s", "", ""),
        *step_fleet.table_rows(r, fmt, goal),
    ] + step_pod.table_rows(r, fmt, goal)
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    head = ("step", "figure", "value", "unit", "goal", "")
    widths = [max(w, len(h)) for w, h in zip(widths, head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths[:5]))
    for row in rows:
        cells = [str(c) for c in row]
        lines.append("  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]),
                                cells[2].rjust(widths[2]), cells[3].ljust(widths[3]),
                                cells[4].ljust(widths[4]), cells[5]]).rstrip())
    return "\n".join(lines)


def meta(a, argv, started, load_start):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return None
    return {
        "command": "scripts/bench " + " ".join(argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "quick": a.quick, "n": a.n, "seed": a.seed, "batch_delay_s": a.batch_delay,
        "gateway_overrides": a.gateway_overrides, "rules": a.rules,
        "live_devices": a.live_devices, "hold_s": a.hold, "phase_s": a.phase_seconds,
        "recording": a.recording or None,
        "cpus": os.cpu_count(),
        "loadavg_start": load_start, "loadavg_end": list(os.getloadavg()),
        "git": out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "gateway": out([str(pathlib.Path(a.build_dir) / "gateway" / "fogbridge"), "--version"]),
        "mosquitto": (out(["mosquitto", "-h"]) or "").splitlines()[0:1],
    }


def main(argv):
    a = parse_args(argv)
    install_sigterm_as_interrupt()
    started = time.monotonic()
    load_start = list(os.getloadavg())
    work = pathlib.Path(tempfile.mkdtemp(prefix="fogbench-"))
    progress = Progress(len([s for s in ORDER if s in a.steps]))
    results, errors = {}, {}
    stack = None
    interrupted = False
    try:
        stack = Stack(work, a.build_dir, overrides=a.gateway_overrides)
        bench = Bench(a, stack, progress)
        drains = lambda: bench.drain_rounds("1" in a.steps, "2" in a.steps)  # noqa: E731
        run = {"1": drains, "2": drains, "5": bench.backlog_drain,
               "3": lambda: {**bench.live_gateway(), **bench.live_bridge()},
               "4": bench.bytes_upstream, "8": bench.forward_capacity, "7": bench.fleet,
               "9": bench.sink_throughput, "10": step_fleet.FleetStep(bench).run,
               "pod": lambda: step_pod.run(bench)}
        if "3" not in a.steps and "4" in a.steps:
            run["4"] = lambda: {**bench.live_bridge(), **bench.bytes_upstream()}
        for s in ORDER:
            if s not in a.steps:
                continue
            progress.step(STEPS[s])
            if s == "5" and "2" in errors:
                progress.done("skipped (step 2 failed)")
                continue
            if s == "2" and "1" in a.steps:
                if "1" in errors:
                    errors["2"] = errors["1"]
                progress.done("measured with step 1, in paired rounds" if "1" not in errors
                              else "skipped (step 1 failed)")
                continue
            try:
                got = run[s]()
                results.update(got)
                progress.done(summary(s, got))
            except BenchError as e:
                errors[s] = str(e)
                progress.done(f"FAILED: {e}")
                stack.close()
            except Exception as e:  # noqa: BLE001 - report, clean up, go on with the next step
                errors[s] = f"{type(e).__name__}: {e}"
                progress.done(f"FAILED: {type(e).__name__}: {e}")
                progress.note(traceback.format_exc())
                stack.close()
    except KeyboardInterrupt:
        interrupted = True
        progress.note("\ninterrupted: stopping everything the benchmark started")
    finally:
        if stack:
            stack.close()
        if a.keep or errors:
            progress.note(f"work directory (logs, stores): {work}")
        if stack and stack_profiles(stack):
            progress.note("perf data: " + ", ".join(stack_profiles(stack)) +
                          " (perf report -i FILE --no-children --sort sym)")
        elif not (a.keep or errors):
            shutil.rmtree(work, ignore_errors=True)
    derive(results, a)
    results["errors"] = errors
    results["interrupted"] = interrupted
    results["meta"] = meta(a, argv, started, load_start)
    out = pathlib.Path(a.out)
    out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print(table(results, a))
    print(f"\n{results['meta']['command']}: {results['meta']['seconds']:.0f} s on "
          f"{os.cpu_count()} CPUs (load average {load_start[0]:.1f} at the start); "
          f"results in {out}")
    if errors:
        print("steps that could not run: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return 130 if interrupted else (1 if errors else 0)


def stack_profiles(stack):
    return getattr(stack, "profiles", [])


def summary(step, r):
    def k(v):
        return "-" if v is None else f"{v / 1000:.1f}k/s"
    if step == "1":
        if r.get("drain_ratio_rounds"):
            return (f"ceiling {k(r.get('ceiling_rps'))}, gateway {k(r.get('gateway_drain_rps'))} "
                    f"(ratios {r['drain_ratio_rounds']}, the median round's rates)")
        return f"{k(r.get('ceiling_rps'))}"
    if step == "2":
        return f"{k(r.get('gateway_drain_rps'))}"
    if step == "5":
        return f"{k(r.get('backlog_drain_rps'))}"
    if step == "3":
        return (f"gateway {k(r.get('gateway_live_rps'))} flat out, bridge {k(r.get('bridge_rps'))}, "
                f"p99 at 10k/s {fmt(r.get('p99_ms_at_10k'))} ms")
    if step == "4":
        return (f"zstd {fmt(r.get('bytes_per_reading_gateway_passthrough'))} B/reading, "
                f"filtered {fmt(r.get('bytes_per_reading_gateway_filtered'))} B/reading, columnar "
                f"{fmt(r.get('bytes_per_reading_columnar_passthrough_zstd'))} / "
                f"{fmt(r.get('bytes_per_reading_columnar_filtered_zstd'))} B/reading")
    if step == "8":
        return (f"gateway {k(r.get('gateway_forward_rps'))}, "
                f"bridge {k(r.get('bridge_forward_rps'))}, "
                f"lost {r.get('gateway_forward_lost')}/{r.get('bridge_forward_lost')}")
    if step == "9":
        return (f"sink {k(r.get('sink_rps'))}, COPY {k(r.get('sink_copy_ceiling_rps'))}, "
                f"ratio {fmt(r.get('sink_ratio'))}, {fmt(r.get('sink_cpu_s_per_100k'))} CPU s/100k")
    if step == "10":
        return step_fleet.summary(r, fmt)
    if step == "pod":
        return step_pod.summary(r)
    if step == "7":
        return f"{k(r.get('fleet_rps'))}, {r.get('fleet_arrived')}/{r.get('fleet_published')} arrived"
    return "done"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
