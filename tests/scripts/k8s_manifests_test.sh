#!/usr/bin/env bash
# deploy/k8s without a cluster: every manifest parses as YAML with the
# expected kinds, and they fit together: selectors match their pods, the
# ingest and batcher nodes are StatefulSets listening on 0.0.0.0 under
# headless Services on their ports, no node lists the batchers, the
# batchers join one address per ingest replica, every rpcbatch node has
# /readyz and /healthz probes on its HTTP port and every container resource
# requests. Hardening: every node that binds a CAF port (--listen, the
# console) beyond loopback has RPCBATCH_OPENSSL_CERTIFICATE, _KEY and
# _CAFILE on a read-only mount of the Secret rpcbatch-tls (none sets
# RPCBATCH_ALLOW_PLAIN_LINKS, and no manifest holds a private key); every
# pod runs as non-root under RuntimeDefault seccomp, every container without
# privilege escalation, capabilities or a writable root filesystem; and
# NetworkPolicies admit to the ingest's CAF port only the batcher pods, to
# the batchers' only the ingest pods, to the resolver only those two, to the
# HTTP port some peers, and to nothing else.
# Usage: k8s_manifests_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)

python3 - "$top"/deploy/k8s/*.yaml <<'PY'
import collections, ipaddress, sys, yaml

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
expected = {"ConfigMap": 1, "Deployment": 1, "StatefulSet": 2, "Service": 3,
            "NetworkPolicy": 3}
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

# TLS: a node binding a CAF port beyond loopback has the certificate, key
# and CA, each on a read-only mount of the Secret rpcbatch-tls; plain links
# are never allowed in the shipped manifests.
def loopback(host):
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

tls_vars = ("RPCBATCH_OPENSSL_CERTIFICATE", "RPCBATCH_OPENSSL_KEY", "RPCBATCH_OPENSSL_CAFILE")
for name, w in workloads.items():
    pod = w["spec"]["template"]["spec"]
    for c in pod["containers"]:
        env = pod_env(c)
        if "RPCBATCH_ROLE" not in env:
            continue
        if "RPCBATCH_ALLOW_PLAIN_LINKS" in env:
            fail(f"{name}: sets RPCBATCH_ALLOW_PLAIN_LINKS; the manifests must use TLS")
        open_ports = []
        listen = env.get("RPCBATCH_LISTEN", "")
        if listen and not loopback(listen.rpartition(":")[0]):
            open_ports.append(listen)
        if "RPCBATCH_CONSOLE_PORT" in env and not loopback(env.get("RPCBATCH_CONSOLE_HOST", "127.0.0.1")):
            open_ports.append("console " + env.get("RPCBATCH_CONSOLE_HOST", ""))
        if not open_ports:
            continue
        # mount path -> the files the Secret's volume shows (None: all keys)
        secret_mounts = {}
        for m in c.get("volumeMounts", []):
            vol = next((v for v in pod.get("volumes", []) if v["name"] == m["name"]), {})
            if vol.get("secret", {}).get("secretName") == "rpcbatch-tls" and m.get("readOnly"):
                items = vol["secret"].get("items")
                secret_mounts[m["mountPath"].rstrip("/") + "/"] = \
                    None if items is None else {i["path"] for i in items}
        for var in tls_vars:
            path = env.get(var, "")
            if not path:
                fail(f"{name}: binds {open_ports} beyond loopback without {var}")
            elif not any(path.startswith(m) and (files is None or path[len(m):] in files)
                         for m, files in secret_mounts.items()):
                fail(f"{name}: {var}={path} is not a file of a read-only mount of the Secret rpcbatch-tls")
# The Secret's keys are those cert-manager writes, and the example under
# cert-manager/ makes rpcbatch-tls with a CA issuer, for both directions.
for name, w in workloads.items():
    for vol in w["spec"]["template"]["spec"].get("volumes", []):
        if vol.get("secret", {}).get("secretName") == "rpcbatch-tls":
            keys = {i["key"] for i in vol["secret"].get("items", [])}
            if keys != {"ca.crt", "tls.crt", "tls.key"}:
                fail(f"{name}: mounts keys {sorted(keys)} of rpcbatch-tls, not cert-manager's ca.crt, tls.crt, tls.key")
import glob, os
cm = [d for p in glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "cert-manager", "*.yaml"))
      for d in yaml.safe_load_all(open(p)) if d]
certs = {d["metadata"]["name"]: d for d in cm if d.get("kind") == "Certificate"}
issuers = {d["metadata"]["name"]: d for d in cm if d.get("kind") == "Issuer"}
node_cert = next((c for c in certs.values() if c["spec"].get("secretName") == "rpcbatch-tls"), None)
if node_cert is None:
    fail("cert-manager/: no Certificate makes the Secret rpcbatch-tls")
else:
    issuer = issuers.get(node_cert["spec"]["issuerRef"]["name"], {})
    ca_secret = issuer.get("spec", {}).get("ca", {}).get("secretName")
    if not ca_secret or not any(c["spec"].get("isCA") and c["spec"].get("secretName") == ca_secret
                                for c in certs.values()):
        fail("cert-manager/: rpcbatch-tls is not signed by a CA Certificate of its own")
    if not {"server auth", "client auth"} <= set(node_cert["spec"].get("usages", [])):
        fail("cert-manager/: the node certificate must serve as server and client")
for path in sys.argv[1:] + glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "cert-manager", "*.yaml")):
    if "PRIVATE KEY" in open(path).read():
        fail(f"{path}: holds a private key")
if "Secret" in by_kind:
    fail(f"a Secret is committed: {sorted(by_kind['Secret'])}; it is made with kubectl")

# Pod and container security contexts.
for name, w in workloads.items():
    pod = w["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    for c in pod.get("initContainers", []) + pod["containers"]:
        csc = c.get("securityContext") or {}
        both = lambda key: csc.get(key, psc.get(key))
        where = f"{name}/{c['name']}"
        if both("runAsNonRoot") is not True:
            fail(f"{where}: not runAsNonRoot")
        if (both("seccompProfile") or {}).get("type") != "RuntimeDefault":
            fail(f"{where}: no seccompProfile RuntimeDefault")
        if csc.get("allowPrivilegeEscalation") is not False:
            fail(f"{where}: allowPrivilegeEscalation is not false")
        if csc.get("readOnlyRootFilesystem") is not True:
            fail(f"{where}: readOnlyRootFilesystem is not true")
        if "ALL" not in (csc.get("capabilities") or {}).get("drop", []):
            fail(f"{where}: capabilities do not drop ALL")
        if (csc.get("capabilities") or {}).get("add"):
            fail(f"{where}: adds capabilities")
        if csc.get("privileged"):
            fail(f"{where}: privileged")

# NetworkPolicies: who may reach each port of each workload's pods.
def labels_of(name):
    return workloads[name]["spec"]["template"]["metadata"]["labels"]

def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) \
        and not selector.get("matchExpressions")

def admitted(target, port):
    """The peers admitted to `port` of the pods of workload `target`: None if
    no policy isolates them (everyone), else a list of peers ("all" for a
    rule without from)."""
    labels = labels_of(target)
    c = workloads[target]["spec"]["template"]["spec"]["containers"][0]
    names = {p["name"] for p in c.get("ports", []) if p.get("containerPort") == port and "name" in p}
    policies = [p for p in by_kind["NetworkPolicy"].values()
                if selects(p["spec"].get("podSelector") or {}, labels)
                and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not policies:
        return None
    peers = []
    for p in policies:
        for rule in p["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(x.get("port") in (port, *names) or "port" not in x for x in ports):
                continue
            peers.extend(rule.get("from") or ["all"])
    return peers

def only_pods_of(target, port, sources):
    peers = admitted(target, port)
    if peers is None:
        fail(f"no NetworkPolicy isolates the pods of {target}")
        return
    if not peers:
        fail(f"{target}: port {port} admits no one")
    for peer in peers:
        if peer == "all" or set(peer) != {"podSelector"} or not any(
                selects(peer["podSelector"], labels_of(s)) for s in sources):
            fail(f"{target}: port {port} admits {peer}, not only the pods of {sources}")
        elif not (peer["podSelector"].get("matchLabels") or {}):
            fail(f"{target}: port {port} admits every pod of the namespace, not only {sources}")

node_names = {env["RPCBATCH_ROLE"]: n for n, (env, w) in roles.items()}
resolver = [n for n, w in workloads.items() if "rpcbatch-resolver" in str(
    w["spec"]["template"]["spec"]["containers"][0].get("command"))]
if "ingest" in node_names and "batcher" in node_names:
    ingest_name, batcher_name = node_names["ingest"], node_names["batcher"]
    for target, source in ((ingest_name, batcher_name), (batcher_name, ingest_name)):
        env = roles[target][0]
        only_pods_of(target, int(env["RPCBATCH_LISTEN"].rpartition(":")[2]), [source])
        if "RPCBATCH_CONSOLE_PORT" in env and not loopback(env.get("RPCBATCH_CONSOLE_HOST", "127.0.0.1")):
            port = int(env["RPCBATCH_CONSOLE_PORT"])
            peers = admitted(target, port)
            for peer in ["all"] if peers is None else peers:
                if peer == "all" or not any((peer.get(k) or {}).get("matchLabels")
                                            for k in ("podSelector", "namespaceSelector")):
                    fail(f"{target}: the console port {port} admits {peer}, not chosen pods")
        if not admitted(target, int(env["RPCBATCH_HTTP_PORT"])):
            fail(f"{target}: nothing may reach the HTTP port {env['RPCBATCH_HTTP_PORT']} (Prometheus)")
        # A port nobody serves is closed: a made-up one admits no one.
        if admitted(target, 1):
            fail(f"{target}: a NetworkPolicy admits every port")
    for r in resolver:
        only_pods_of(r, 50051, [ingest_name, batcher_name])
        if admitted(r, 1):
            fail(f"{r}: a NetworkPolicy admits every port")
if len(resolver) != 1:
    fail(f"expected one resolver workload: {resolver}")

for f in failures:
    print("FAIL:", f)
print(f"{len(docs)} manifests: {dict(kinds)}; roles {sorted((n, e['RPCBATCH_ROLE']) for n, (e, w) in roles.items())}")
sys.exit(1 if failures else 0)
PY
