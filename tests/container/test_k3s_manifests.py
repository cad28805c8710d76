#!/usr/bin/python3
"""Checks deploy/k3s without a cluster: every object's fields against a strict subset of the
Kubernetes API (a misspelt key fails), the edge-node contract (arm64 node selector, 512Mi / 500m
limits, store on a PVC, config in a ConfigMap, certificates in a Secret, non-root), references
between the objects, the gateway's TOML (parsed, and checked by the real gateway when it is
built), the broker config against deploy/mosquitto/*.in, and `kubectl kustomize` when kubectl
is installed (it works offline; `kubectl apply --dry-run=client` needs an API server).

Run: /usr/bin/python3 -m unittest -v test_k3s_manifests   (in tests/container)
Environment: FOGBRIDGE_BUILD_DIR (for gateway/fogbridge --check-config; skipped without it).
"""

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import tomllib
import unittest

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
K3S = REPO / "deploy" / "k3s"
NAMESPACE = "fogbridge"
GATEWAY_UID = 10001

# --- a strict subset of the Kubernetes API: {key: type or nested spec}; lists as [spec] -------
STR, INT, BOOL, ANY_MAP = str, int, bool, dict
QUANTITY = (str, int)
LABELS = {"*": STR}
META = {"name": STR, "namespace": STR, "labels": LABELS, "annotations": LABELS}
PROBE_ACTION = {
    "exec": {"command": [STR]},
    "tcpSocket": {"port": (STR, INT)},
    "httpGet": {"path": STR, "port": (STR, INT)},
}
PROBE = dict(PROBE_ACTION, initialDelaySeconds=INT, periodSeconds=INT, timeoutSeconds=INT,
             failureThreshold=INT, successThreshold=INT)
RESOURCES = {"requests": {"memory": QUANTITY, "cpu": QUANTITY},
             "limits": {"memory": QUANTITY, "cpu": QUANTITY}}
CONTAINER = {
    "name": STR, "image": STR, "imagePullPolicy": STR, "command": [STR], "args": [STR],
    "env": [{"name": STR, "value": STR}],
    "ports": [{"name": STR, "containerPort": INT, "protocol": STR}],
    "resources": RESOURCES,
    "securityContext": {"allowPrivilegeEscalation": BOOL, "readOnlyRootFilesystem": BOOL,
                        "runAsNonRoot": BOOL, "runAsUser": INT, "runAsGroup": INT,
                        "capabilities": {"drop": [STR], "add": [STR]}},
    "startupProbe": PROBE, "livenessProbe": PROBE, "readinessProbe": PROBE,
    "volumeMounts": [{"name": STR, "mountPath": STR, "subPath": STR, "readOnly": BOOL}],
}
VOLUME = {
    "name": STR,
    "configMap": {"name": STR, "defaultMode": INT, "items": [{"key": STR, "path": STR}]},
    "secret": {"secretName": STR, "defaultMode": INT, "items": [{"key": STR, "path": STR}]},
    "persistentVolumeClaim": {"claimName": STR, "readOnly": BOOL},
    "emptyDir": {"medium": STR, "sizeLimit": QUANTITY},
}
POD_SPEC = {
    "nodeSelector": LABELS, "terminationGracePeriodSeconds": INT,
    "securityContext": {"runAsNonRoot": BOOL, "runAsUser": INT, "runAsGroup": INT, "fsGroup": INT,
                        "seccompProfile": {"type": STR}},
    "containers": [CONTAINER], "volumes": [VOLUME],
}
SCHEMAS = {
    ("v1", "Namespace"): {"metadata": META},
    ("v1", "ConfigMap"): {"metadata": META, "data": {"*": STR}},
    ("v1", "Secret"): {"metadata": META, "type": STR, "data": {"*": STR}, "stringData": {"*": STR}},
    ("v1", "PersistentVolumeClaim"): {"metadata": META, "spec": {
        "accessModes": [STR], "storageClassName": STR,
        "resources": {"requests": {"storage": QUANTITY}}}},
    ("v1", "Service"): {"metadata": META, "spec": {
        "type": STR, "selector": LABELS,
        "ports": [{"name": STR, "port": INT, "targetPort": (STR, INT), "protocol": STR}]}},
    ("apps/v1", "Deployment"): {"metadata": META, "spec": {
        "replicas": INT, "strategy": {"type": STR}, "selector": {"matchLabels": LABELS},
        "template": {"metadata": META, "spec": POD_SPEC}}},
}


def check_shape(value, spec, path):
    """Problems of `value` against `spec`: unknown keys, wrong types."""
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, v in enumerate(value) for p in check_shape(v, spec[0], f"{path}[{i}]")]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        problems = []
        for key, v in value.items():
            sub = spec.get(key, spec.get("*"))
            if sub is None:
                problems.append(f"{path}.{key}: not a known field here")
            else:
                problems += check_shape(v, sub, f"{path}.{key}")
        return problems
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:
        return [f"{path}: expected {types}, got a boolean"]
    return [] if isinstance(value, types) else [f"{path}: expected {types}, got {type(value).__name__}"]


def load_objects():
    objects = []
    for f in sorted(K3S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(f.read_text()):
            if doc is not None:
                objects.append((f.name, doc))
    return objects


def render_template(name, values):
    text = (REPO / "deploy" / "mosquitto" / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


class K3sManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = load_objects()
        cls.by_kind = {}
        for _, o in cls.objects:
            cls.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    def deployment(self, name):
        return self.by_kind["Deployment"][name]

    def pod(self, name):
        return self.deployment(name)["spec"]["template"]["spec"]

    def container(self, name):
        (c,) = self.pod(name)["containers"]
        return c

    def test_every_object_uses_known_fields_of_its_kind(self):
        for file, o in self.objects:
            key = (o.get("apiVersion"), o.get("kind"))
            self.assertIn(key, SCHEMAS, f"{file}: unexpected apiVersion/kind {key}")
            body = {k: v for k, v in o.items() if k not in ("apiVersion", "kind")}
            self.assertEqual(check_shape(body, SCHEMAS[key], f"{file}:{o['kind']}"), [])
            self.assertRegex(o["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
            if o["kind"] != "Namespace":
                self.assertEqual(o["metadata"].get("namespace"), NAMESPACE, file)

    def test_kustomization_lists_every_manifest(self):
        k = yaml.safe_load((K3S / "kustomization.yaml").read_text())
        self.assertEqual(k["namespace"], NAMESPACE)
        files = {f.name for f in K3S.glob("*.yaml")} - {"kustomization.yaml"}
        self.assertEqual(set(k["resources"]), files)

    def test_gateway_runs_on_the_arm64_node_within_512mi_and_500m(self):
        pod = self.pod("gateway")
        self.assertEqual(pod["nodeSelector"], {"kubernetes.io/arch": "arm64"})
        res = self.container("gateway")["resources"]
        self.assertEqual(res["limits"], {"memory": "512Mi", "cpu": "500m"})
        self.assertIn("memory", res["requests"])
        self.assertEqual(self.pod("local-broker")["nodeSelector"], {"kubernetes.io/arch": "arm64"})

    def test_gateway_is_a_single_non_root_writer(self):
        d = self.deployment("gateway")
        self.assertEqual(d["spec"]["replicas"], 1)
        self.assertEqual(d["spec"]["strategy"]["type"], "Recreate")
        sc = self.pod("gateway")["securityContext"]
        self.assertEqual((sc["runAsNonRoot"], sc["runAsUser"], sc["runAsGroup"]),
                         (True, GATEWAY_UID, GATEWAY_UID))
        csc = self.container("gateway")["securityContext"]
        self.assertEqual((csc["allowPrivilegeEscalation"], csc["readOnlyRootFilesystem"],
                          csc["capabilities"]["drop"]), (False, True, ["ALL"]))

    def test_selectors_match_their_pods(self):
        for name, d in self.by_kind["Deployment"].items():
            labels = d["spec"]["template"]["metadata"]["labels"]
            for k, v in d["spec"]["selector"]["matchLabels"].items():
                self.assertEqual(labels.get(k), v, name)
        for name, s in self.by_kind["Service"].items():
            self.assertTrue(any(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                                    for k, v in s["spec"]["selector"].items())
                                for d in self.by_kind["Deployment"].values()), f"service {name}")

    def test_volumes_and_mounts_refer_to_objects_that_exist(self):
        for name in self.by_kind["Deployment"]:
            pod = self.pod(name)
            volumes = {v["name"]: v for v in pod["volumes"]}
            for c in pod["containers"]:
                for m in c.get("volumeMounts", []):
                    self.assertIn(m["name"], volumes, f"{name}: mount of unknown volume")
                    v = volumes[m["name"]]
                    if "subPath" in m and "configMap" in v:
                        cm = self.by_kind["ConfigMap"][v["configMap"]["name"]]
                        self.assertIn(m["subPath"], cm["data"], f"{name}: {m['subPath']}")
            for v in volumes.values():
                if "persistentVolumeClaim" in v:
                    self.assertIn(v["persistentVolumeClaim"]["claimName"],
                                  self.by_kind["PersistentVolumeClaim"])
                if "configMap" in v:
                    self.assertIn(v["configMap"]["name"], self.by_kind["ConfigMap"])
                if "secret" in v:
                    self.assertEqual(v["secret"]["secretName"], "fogbridge-pki")

    def gateway_config(self):
        return self.by_kind["ConfigMap"]["gateway-config"]["data"]["fogbridge.toml"]

    def test_gateway_config_points_into_its_mounts(self):
        conf = tomllib.loads(self.gateway_config())
        mounts = {m["mountPath"]: m for m in self.container("gateway")["volumeMounts"]}
        volumes = {v["name"]: v for v in self.pod("gateway")["volumes"]}
        store_dir = str(pathlib.PurePosixPath(conf["store"]["path"]).parent)
        self.assertIn(store_dir, mounts, "the store is not on a mounted volume")
        self.assertIn("persistentVolumeClaim", volumes[mounts[store_dir]["name"]])
        secret_items = {i["path"] for i in volumes["pki"]["secret"]["items"]}
        pki_dir = next(p for p, m in mounts.items() if m["name"] == "pki")
        for section in ("local", "cloud"):
            for key in ("ca_file", "cert_file", "key_file"):
                path = pathlib.PurePosixPath(conf[section][key])
                self.assertEqual(str(path.parent), pki_dir, f"{section}.{key}")
                self.assertIn(path.name, secret_items, f"{section}.{key}")
        self.assertEqual(conf["local"]["host"], "local-broker")
        self.assertIn("local-broker", self.by_kind["Service"])
        self.assertIn("/etc/fogbridge/fogbridge.toml", mounts)

    def test_health_probes_ask_the_gateway_with_the_mounted_config(self):
        c = self.container("gateway")
        want = ["fogbridge", "--config", "/etc/fogbridge/fogbridge.toml", "--health-check"]
        self.assertEqual(c["livenessProbe"]["exec"]["command"], want)
        self.assertEqual(c["startupProbe"]["exec"]["command"], want)
        self.assertEqual(c["args"], want[1:3])
        interval = tomllib.loads(self.gateway_config())["gateway"]["health_interval"]
        # A probe period below 3 x health_interval could see a file between two writes as stale.
        self.assertGreaterEqual(c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"],
                                3 * interval)

    def test_gateway_accepts_its_config(self):
        build = os.environ.get("FOGBRIDGE_BUILD_DIR")
        exe = pathlib.Path(build or REPO / "build" / "dev") / "gateway" / "fogbridge"
        if not exe.exists():
            self.skipTest(f"no gateway at {exe}")
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "fogbridge.toml"
            path.write_text(self.gateway_config())
            env = {k: v for k, v in os.environ.items() if not k.startswith("FOGBRIDGE_")}
            r = subprocess.run([str(exe), "--config", str(path), "--check-config"], env=env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_broker_config_is_the_rendered_template(self):
        data = self.by_kind["ConfigMap"]["local-broker-config"]["data"]
        mounts = {m["subPath"]: m["mountPath"] for m in self.container("local-broker")["volumeMounts"]
                  if "subPath" in m}
        pki = next(m["mountPath"] for m in self.container("local-broker")["volumeMounts"]
                   if m["name"] == "pki")
        data_dir = next(m["mountPath"] for m in self.container("local-broker")["volumeMounts"]
                        if m["name"] == "data")
        gateway_id = tomllib.loads(self.gateway_config())["gateway"]["id"]
        values = {"PORT": "8883", "SERVICE_PORT": "8885", "BIND_ADDRESS": "0.0.0.0", "CAFILE": f"{pki}/ca.crt",
                  "CRLFILE": f"{pki}/ca.crl", "DEVICE_CAFILE": f"{pki}/device-ca.crt",
                  "DEVICE_CRLFILE": f"{pki}/device-ca.crl",
                  "CERTFILE": f"{pki}/local-broker.crt", "KEYFILE": f"{pki}/local-broker.key",
                  "ACL_FILE": mounts["acl"], "SERVICE_ACL_FILE": mounts["service-acl"],
                  "PERSISTENCE_DIR": data_dir, "GATEWAY_ID": gateway_id}
        self.assertEqual(data["mosquitto.conf"], render_template("local.conf.in", values))
        self.assertEqual(data["acl"], render_template("local-acl.in", values))
        self.assertEqual(data["service-acl"], render_template("local-service-acl.in", values))
        self.assertEqual(self.container("local-broker")["args"], ["-c", mounts["mosquitto.conf"]])

    def test_kubectl_kustomize_builds_the_same_objects(self):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            self.skipTest("kubectl is not installed")
        r = subprocess.run([kubectl, "kustomize", str(K3S)], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, KUBECONFIG=os.devnull))
        self.assertEqual(r.returncode, 0, r.stderr)
        built = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(r.stdout) if o}
        self.assertEqual(built, {(o["kind"], o["metadata"]["name"]) for _, o in self.objects})
        for o in yaml.safe_load_all(r.stdout):
            if o:
                self.assertEqual(o["metadata"]["labels"]["app.kubernetes.io/part-of"], "fogbridge")

    def test_checker_rejects_a_misspelt_field(self):
        bad = {"metadata": {"name": "x"}, "spec": {"replicas": 1, "template": {"spec": {
            "containers": [{"name": "c", "resource": {"limits": {"memory": "1Gi"}}}]}}}}
        problems = check_shape(bad, SCHEMAS[("apps/v1", "Deployment")], "d")
        self.assertEqual(problems, ["d.spec.template.spec.containers[0].resource: not a known field here"])


if __name__ == "__main__":
    unittest.main()
