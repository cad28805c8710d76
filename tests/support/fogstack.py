"""Starts the fogbridge programs for integration tests: a gateway config written per test, the
gateway process, and simulated boards (fogbridge-sensor). Builds on fogtest."""

import json
import os

import fogtest

GATEWAY = "gateway/fogbridge"
SENSOR = "device-sdk/fogbridge-sensor"


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def gateway_config(path, pki, local, cloud, store, sections=None, rules=None, cloud_identity="gateway"):
    """Writes a gateway TOML file; `sections` overrides keys per section."""
    crt, key = pki.identity(cloud_identity) if cloud_identity else ("", "")
    gcrt, gkey = pki.gateway
    conf = {
        "gateway": {"id": pki.gateway_id, "log_level": "info", "health_interval": 1},
        # The gateway is a service: on a local broker it uses the service listener.
        "local": {"host": local.host, "port": getattr(local, "service_port", local.port), "ca_file": str(pki.ca),
                  "cert_file": str(gcrt), "key_file": str(gkey)},
        "cloud": {"host": cloud.host, "port": cloud.port, "ca_file": str(pki.ca),
                  "cert_file": str(crt), "key_file": str(key), "reconnect_min": 0.2,
                  "reconnect_max": 1.0},
        "store": {"path": str(store), "synchronous": "normal"},
        "batch": {"max_delay": 0.2},
        "filter.default": {"deadband": 0, "heartbeat": 0},
    }
    if os.environ.get("FOGTEST_BATCH_LAYOUT"):  # e.g. columnar: the whole suite in that layout
        conf["batch"]["layout"] = os.environ["FOGTEST_BATCH_LAYOUT"]
    for section, values in (sections or {}).items():
        conf.setdefault(section, {}).update(values)
    lines = []
    for section, values in conf.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for rule in rules or []:
        lines.append("[[filter.rules]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in rule.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_gateway(case, config, name="gateway"):
    proc = case.start_process([str(fogtest.executable(GATEWAY)), "--config", str(config)], name=name)
    return proc


def wait_gateway_online(case, local, timeout=15):
    """Waits for the gateway's retained `online`, which it publishes after subscribing."""
    status = case.collector(local, f"gateways/{case.pki.gateway_id}/status")
    status.wait_for_message(lambda m: m.payload == b"online", timeout)
    status.close()


def start_sensor(case, broker, device, *args, name=None):
    crt, key = case.pki.device(device)
    cmd = [str(fogtest.executable(SENSOR)), "--id", device, "--host", broker.host,
           "--port", str(broker.port), "--ca", str(case.pki.ca), "--cert", str(crt),
           "--key", str(key), *[str(a) for a in args]]
    return case.start_process(cmd, name=name or f"sensor-{device}")


def batch_readings(messages):
    """All readings in a list of batch messages, as dicts."""
    out = []
    for m in messages:
        out += fogtest.batch_rows(m.json())
    return out
