"""Local stand-ins for the managed clouds of the gateway's cloud profiles (docs/clouds.md).

Each is a real Mosquitto (fogtest.Broker, mutual TLS as cloud.conf.in) configured with what the
profile's cloud documents and Mosquitto 2.0 can enforce:
  - max_packet_size: the profile's message size plus 1 KiB for fixed header, topic and properties;
    a larger PUBLISH ends the connection, as the clouds do;
  - an ACL that lets the gateway publish only on the profile's topic form (the observer reads all);
  - retain_available false where the cloud takes no retained messages (a retained PUBLISH then
    ends the connection);
  - max_keepalive: the profile's largest keepalive; max_inflight_messages its window, when known;
  - MQTT 3.1.1 only: Mosquitto 2.0.11 has no option to refuse MQTT 5 on a listener, so a small
    TLS front (V311Front) stands before it and closes any connection whose CONNECT says protocol
    level 5; everything else passes byte for byte.
What it does not check: user-name forms (the broker takes the certificate's subject as user name),
publish rates, and topic lengths (the gateway's --check-config refuses those at start-up).
"""

import json
import subprocess

import ackproxy
import fogtest

ENVELOPE = 1024  # fixed header, topic and properties at most, as the gateway reckons

# name -> what the stand-in enforces. write: ACL patterns for the gateway (%c = its client id).
PLAIN = ["fogbridge/+/batch", "fogbridge/+/gaps", "fogbridge/+/alerts", "fogbridge/+/health",
         "fogbridge/+/status", "fogbridge/+/devices/+/health"]
PROFILES = {
    "generic": {"message_bytes": None, "retain": True, "v311_only": False, "keepalive": 3600,
                "window": None, "write": PLAIN},
    "aws-iot-core": {"message_bytes": 131072, "retain": True, "v311_only": False,
                     "keepalive": 1200, "window": 100, "write": PLAIN},
    "azure-iot-hub": {"message_bytes": 262144 - ENVELOPE, "retain": False, "v311_only": True,
                      "keepalive": 1177, "window": None,
                      "write": ["devices/%c/messages/events/#"]},
    "azure-event-grid": {"message_bytes": 524288 - ENVELOPE, "retain": False, "v311_only": False,
                         "keepalive": 1160, "window": 1000, "write": PLAIN},
    "hivemq": {"message_bytes": 262144, "retain": True, "v311_only": False, "keepalive": 3600,
               "window": None, "write": PLAIN},
    "emqx": {"message_bytes": 1048576 - ENVELOPE, "retain": True, "v311_only": False,
             "keepalive": 3600, "window": None, "write": PLAIN},
}

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def standin_config(profile, acl_path):
    """The Mosquitto lines added to cloud.conf.in for `profile`; writes its ACL file."""
    p = PROFILES[profile]
    acl = ["# the test's observer reads everything", "user observer", "topic read #", "",
           "# the gateway writes only the profile's topic form"]
    acl += [f"pattern write {t}" for t in p["write"]]
    acl_path.write_text("\n".join(acl) + "\n")
    lines = [f"acl_file {acl_path}", f"max_keepalive {p['keepalive']}"]
    if p["message_bytes"]:
        lines.append(f"max_packet_size {p['message_bytes'] + ENVELOPE}")
    if not p["retain"]:
        lines.append("retain_available false")
    if p["window"]:
        lines.append(f"max_inflight_messages {p['window']}")
    return "\n".join(lines)


class V311Front(ackproxy.AckProxy):
    """TLS in front of a broker that ends every connection whose CONNECT asks for MQTT 5
    (protocol level 5); MQTT 3.1.1 passes byte for byte. refused(): how many it ended."""

    def __init__(self, pki, upstream):
        super().__init__(pki, upstream, lambda *_: False)

    def _from_gateway(self, state, ptype, flags, body):
        if ptype == ackproxy.CONNECT:
            n = int.from_bytes(body[0:2], "big")
            level = body[2 + n] if len(body) > 2 + n else None
            if level != 4:
                self._note("refused-level", level)
                raise ValueError(f"MQTT protocol level {level}: this cloud speaks 3.1.1 only")
        return True

    def refused(self):
        return len(self.events("refused-level"))


class StandIn:
    """A started stand-in for `profile`: .host/.port is where the gateway connects (the front
    when there is one), .broker the Mosquitto a collector subscribes to."""

    def __init__(self, case, profile):
        self.profile = profile
        acl = case.work_dir / f"{profile}-acl"
        extra = standin_config(profile, acl)
        self.broker = case.start_broker("cloud", extra_config=extra, name=f"{profile}-standin")
        self.front = None
        self.host, self.port = self.broker.host, self.broker.port
        if PROFILES[profile]["v311_only"]:
            self.front = V311Front(case.pki, self.broker).start()
            case.addCleanup(self.front.stop)
            self.host, self.port = self.front.host, self.front.port


def stream_of(topic):
    """'batch', 'gaps', ... of an upstream topic in any profile's default form."""
    if "/messages/events/" in topic:
        bag = dict(kv.split("=", 1) for kv in topic.split("/messages/events/", 1)[1].split("&")
                   if "=" in kv)
        return bag.get("stream")
    return topic.rsplit("/", 1)[-1]


def inflate(payload):
    """The payload's bytes, zstd frames decompressed (the zstd command line, as test_sink)."""
    if payload[:4] != ZSTD_MAGIC:
        return payload
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=payload, capture_output=True,
                          check=True).stdout


def audit_records(messages):
    """Collector messages as the audit tool's received records (topic ending /batch or /gaps),
    whatever the profile's topic form and compression."""
    out = []
    for m in messages:
        stream = stream_of(m.topic)
        if stream in ("batch", "gaps"):
            out.append({"topic": f"cloud/{stream}", "payload": inflate(m.payload).decode()})
    return out


def batch_ids(messages):
    return [json.loads(r["payload"])["batch_id"] for r in audit_records(messages)
            if r["topic"].endswith("/batch")]
