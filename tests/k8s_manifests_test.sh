#!/usr/bin/env bash
# deploy/k8s without a cluster: every manifest parses as YAML with the
# expected kinds, and they fit together: selectors match their pods, the
# ingest and batcher nodes are StatefulSets listening on 0.0.0.0 under
# headless Services on their ports, no node lists the batchers, the
# batchers join one address per ingest replica, every rpcbatch node has
# /readyz and /healthz probes on its HTTP port and every container resource
# requests.
# Usage: k8s_manifests_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

python3 - "$top"/deploy/k8s/*.yaml <<'PY'
import collections, sys, yaml

failures = []

def fail(msg):
    failures.append(msg)

docs = []
for path in sys.argv[1:]:
    try:
        for doc in yaml.safe_load_all(open(path)):
            if doc is None:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc:
                    fail(f"{path}: a document without {key}")
            docs.append(doc)
    except yaml.YAMLError as e:
        fail(f"{path}: {e}")

by_kind = collections.defaultdict(dict)
for d in docs:
    by_kind[d.get("kind")][d.get("metadata", {}).get("name")] = d
kinds = collections.Counter(d.get("kind") for d in docs)
expected = {"ConfigMap": 1, "Deployment": 1, "StatefulSet": 2, "Service": 3}
if dict(kinds) != expected:
    fail(f"kinds {dict(kinds)}, expected {expected}")

config = {}
for cm in by_kind["ConfigMap"].values():
    config.update(cm.get("data") or {})

def pod_env(container):
    env = dict(config) if any("configMapRef" in e for e in container.get("envFrom", [])) else {}
    for e in container.get("envFrom", []):
        name = e.get("configMapRef", {}).get("name")
        if name not in by_kind["ConfigMap"]:
            fail(f"{container['name']}: envFrom names no ConfigMap here: {name}")
    for e in container.get("env", []):
        env[e["name"]] = str(e.get("value", ""))
    return env

workloads = dict(by_kind["Deployment"])
workloads.update(by_kind["StatefulSet"])
roles = {}
for name, w in workloads.items():
    spec = w["spec"]
    labels = spec["template"]["metadata"]["labels"]
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            fail(f"{name}: the selector does not match its pod labels")
    for c in spec["template"]["spec"]["containers"]:
        req = c.get("resources", {}).get("requests", {})
        if "cpu" not in req or "memory" not in req:
            fail(f"{name}/{c['name']}: no cpu and memory requests")
        env = pod_env(c)
        if "RPCBATCH_ROLE" not in env:
            continue
        roles[name] = (env, w)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if str(ports.get("http")) != env.get("RPCBATCH_HTTP_PORT"):
            fail(f"{name}: the http port {ports.get('http')} is not RPCBATCH_HTTP_PORT "
                 f"{env.get('RPCBATCH_HTTP_PORT')}")
        if env.get("RPCBATCH_HTTP_HOST") != "0.0.0.0":
            fail(f"{name}: the HTTP endpoints listen on loopback only; the probes cannot reach them")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") not in ("http", ports.get("http")):
                fail(f"{name}: {probe} is not an httpGet of {path} on the http port")

# Services select pods that exist.
for name, svc in by_kind["Service"].items():
    selector = svc["spec"].get("selector", {})
    if not any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                   for k, v in selector.items()) for w in workloads.values()):
        fail(f"Service {name} selects no pods")

# Ingest and batcher nodes: each one StatefulSet, listening on 0.0.0.0
# under a headless Service of its pods on that port. Nothing lists the
# batchers: they join one address per ingest replica, by its DNS name.
def node_set(role):
    sets = [(n, e, w) for n, (e, w) in roles.items() if e["RPCBATCH_ROLE"] == role]
    if len(sets) != 1 or sets[0][2]["kind"] != "StatefulSet":
        fail(f"the {role} nodes are not one StatefulSet: {[n for n, e, w in sets]}")
        return None
    name, env, sts = sets[0]
    host, _, port = env.get("RPCBATCH_LISTEN", "").rpartition(":")
    if host != "0.0.0.0":
        fail(f"{name}: RPCBATCH_LISTEN {env.get('RPCBATCH_LISTEN')!r} is not on 0.0.0.0")
    service_name = sts["spec"].get("serviceName")
    spec = by_kind["Service"].get(service_name, {}).get("spec", {})
    if spec.get("clusterIP") != "None":
        fail(f"{name}: its serviceName {service_name!r} is not a headless Service")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    selector = spec.get("selector") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        fail(f"{name}: Service {service_name!r} does not select its pods")
    if port not in [str(p.get("port")) for p in spec.get("ports", [])]:
        fail(f"{name}: Service {service_name!r} has no port {port} (RPCBATCH_LISTEN)")
    return name, env, sts, service_name, port

for name, (env, w) in roles.items():
    if "RPCBATCH_BATCHER_NODES" in env:
        fail(f"{name}: RPCBATCH_BATCHER_NODES is set; batcher nodes join instead")
batcher = node_set("batcher")
ingest = node_set("ingest")
if ingest:
    name, env, sts, service_name, port = ingest
    if not by_kind["Service"].get(service_name, {}).get("spec", {}).get("publishNotReadyAddresses"):
        fail(f"Service {service_name}: names must resolve before the ingest pods are ready")
if batcher and ingest:
    name, env, sts, service_name, port = ingest
    want = [f"{name}-{i}.{service_name}:{port}" for i in range(sts["spec"].get("replicas", 1))]
    have = batcher[1].get("RPCBATCH_JOIN", "").split(",")
    if have != want:
        fail(f"the batchers' RPCBATCH_JOIN {have} is not one per ingest replica {want}")

for f in failures:
    print("FAIL:", f)
print(f"{len(docs)} manifests: {dict(kinds)}; roles {sorted((n, e['RPCBATCH_ROLE']) for n, (e, w) in roles.items())}")
sys.exit(1 if failures else 0)
PY
