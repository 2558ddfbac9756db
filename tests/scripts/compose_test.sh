#!/usr/bin/env bash
# deploy/compose without a container engine: every compose file is valid
# for Debian's docker-compose (`config -q`, with each of its profiles), and
# the full stack is wired as the README says: Kafka in KRaft mode without
# ZooKeeper, the seed's topics with 3 partitions, batcher nodes (two by
# default, more with --scale) that join the ingest node, every node
# listening on all interfaces inside the network,
# every published port on the host's loopback only, and the default set
# (no profile) just Kafka, its UI, the topics and the resolver. TLS: every
# node that binds a CAF port (--listen, the console) beyond loopback has
# RPCBATCH_OPENSSL_CERTIFICATE, _KEY and _CAFILE on a read-only volume that
# a one-shot service fills from deploy/compose/certs (mounted read-only,
# never the CA's key) before the node starts; none sets
# RPCBATCH_ALLOW_PLAIN_LINKS; and git ignores deploy/compose/certs.
# Monitoring, in the nodes profile only: Prometheus and Grafana from pinned
# images (not latest), their configuration from deploy/prometheus and
# deploy/grafana mounted read-only; Prometheus scrapes exactly the nodes'
# HTTP ports (RPCBATCH_HTTP_PORT; the batcher service by its DNS name, one
# address per replica) and has the job the dashboard opens on; Grafana's
# data source is that Prometheus, its dashboard provider's path holds
# deploy/grafana/rpcbatch-dashboard.json, anonymous users are viewers at
# most, and no password is in the file (only a variable of the
# environment, without a default). The local profile (with the services it
# depends on) needs no image from a registry, and its services answer to
# the nodes profile's names (kafka, ingest, batcher, prometheus).
# Usage: compose_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
files=("$top"/deploy/compose/*.yaml)
[ -e "${files[0]}" ] || { echo "FAIL: no compose files in deploy/compose" >&2; exit 1; }

for f in "${files[@]}"; do
  profiles=$(python3 -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
print(" ".join(sorted({p for s in doc["services"].values() for p in s.get("profiles", [])})))
' "$f")
  docker-compose -f "$f" config -q
  for p in $profiles; do
    docker-compose -f "$f" --profile "$p" config -q
  done
  echo "valid: $(basename "$f") (profiles: ${profiles:-none})"
done

compose=$top/deploy/compose/compose.yaml
docker-compose -f "$compose" --profile nodes config >"${TMPDIR:-/tmp}/rpcbatch-compose-$$.yaml"
trap 'rm -f "${TMPDIR:-/tmp}/rpcbatch-compose-$$.yaml"' EXIT

python3 - "${TMPDIR:-/tmp}/rpcbatch-compose-$$.yaml" "$compose" <<'PY'
import ipaddress, os, re, subprocess, sys, yaml

config = yaml.safe_load(open(sys.argv[1]))
# docker-compose 1.29's config lists the services of every profile: keep
# those that `--profile nodes` starts (the local profile's are checked at
# the end).
every = config["services"]
services = {name: s for name, s in every.items()
            if not s.get("profiles") or "nodes" in s["profiles"]}
default = {name for name, s in services.items() if not s.get("profiles")}
failures = []

def fail(msg):
    if msg not in failures:
        failures.append(msg)

def env(service):
    e = services[service].get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) for x in e)
    return {k: str(v) for k, v in e.items()}

if default != {"kafka", "kafka-ui", "topics", "resolver"}:
    fail(f"without a profile the stack is {sorted(default)}, not Kafka, its UI, "
         "the topics and the resolver")

# Kafka: the official image in KRaft mode, no ZooKeeper anywhere.
kafka = services.get("kafka", {})
if not str(kafka.get("image", "")).startswith("apache/kafka:"):
    fail(f"kafka is not the official apache/kafka image: {kafka.get('image')}")
if "controller" not in env("kafka").get("KAFKA_PROCESS_ROLES", ""):
    fail("kafka is not a KRaft controller (KAFKA_PROCESS_ROLES)")
if any("zookeeper" in name or "zookeeper" in str(s.get("image", ""))
       for name, s in services.items()):
    fail("a ZooKeeper service is there")

# The topics: the seed's three, 3 partitions each, created before the nodes.
script = " ".join(services.get("topics", {}).get("command") or [])
for topic in ("input-topic", "rpc-pardo-stateful", "rpc-pardo-stateful-dlq"):
    if topic not in script:
        fail(f"the topics service does not create {topic}")
if "--partitions 3" not in script or "--create" not in script:
    fail("the topics service does not create topics with 3 partitions")

# The nodes: one ingest node listening for joins, and batcher nodes (two
# or more replicas) that join it.
roles = {name: env(name).get("RPCBATCH_ROLE") for name in services}
ingest = [n for n, r in roles.items() if r == "ingest"]
batchers = sorted(n for n, r in roles.items() if r == "batcher")
replicas = sum(int(services[b].get("scale", 1)) for b in batchers)
if len(ingest) != 1 or replicas < 2:
    fail(f"expected one ingest node and at least two batcher nodes: {roles}")
def listens_everywhere(name):
    listen = env(name).get("RPCBATCH_LISTEN", "")
    host, _, port = listen.rpartition(":")
    if host != "0.0.0.0":
        fail(f"{name} listens on {listen!r}, not on 0.0.0.0 inside its container")
    return port
doors = {f"{n}:{listens_everywhere(n)}" for n in ingest}
for b in batchers:
    listens_everywhere(b)
    if env(b).get("RPCBATCH_JOIN") not in doors:
        fail(f"{b} does not join the ingest node ({env(b).get('RPCBATCH_JOIN')!r}, "
             f"not one of {sorted(doors)})")
for n in ingest + batchers:
    if env(n).get("RPCBATCH_HTTP_HOST") != "0.0.0.0":
        fail(f"{n}'s HTTP endpoints are not reachable from outside its container")
if not any(str(s.get("entrypoint", "")).find("rpcbatch-textgen") >= 0 for s in services.values()):
    fail("no text generator")
if not any(str(s.get("entrypoint", "")).find("rpcbatch-resolver") >= 0
           and "--listen=0.0.0.0:50051" in (s.get("command") or [])
           for s in services.values()):
    fail("no resolver listening on 0.0.0.0:50051")

# Published ports: on 127.0.0.1 only; the ingest node's console and metrics.
published = {}
for name, s in services.items():
    for p in s.get("ports") or []:
        text = p if isinstance(p, str) else f"{p.get('host_ip', '')}:{p.get('published')}:{p.get('target')}"
        if not text.startswith("127.0.0.1:"):
            fail(f"{name} publishes {text} beyond the host's loopback")
        published.setdefault(name, []).append(text.split(":")[2].split("/")[0])
for n in ingest:
    for var in ("RPCBATCH_CONSOLE_PORT", "RPCBATCH_HTTP_PORT"):
        port = env(n).get(var)
        if port is None or port not in published.get(n, []):
            fail(f"{n} does not publish its {var} ({port})")

# TLS on every CAF port beyond loopback, from files that a one-shot
# service copies out of deploy/compose/certs into a volume the node mounts
# read-only.
def loopback(host):
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

def mounts(name):
    """(source, target, read_only) of each volume of service `name`."""
    out = []
    for v in services[name].get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((v.get("source"), v.get("target"), bool(v.get("read_only"))))
    return out

certs_dir = os.path.join(os.path.dirname(sys.argv[2]), "certs")
for n in ingest + batchers:
    e = env(n)
    if "RPCBATCH_ALLOW_PLAIN_LINKS" in e:
        fail(f"{n} sets RPCBATCH_ALLOW_PLAIN_LINKS; the compose file must use TLS")
    open_ports = [e["RPCBATCH_LISTEN"]] if e.get("RPCBATCH_LISTEN") and not loopback(
        e["RPCBATCH_LISTEN"].rpartition(":")[0]) else []
    if "RPCBATCH_CONSOLE_PORT" in e and not loopback(e.get("RPCBATCH_CONSOLE_HOST", "127.0.0.1")):
        open_ports.append("console on " + e.get("RPCBATCH_CONSOLE_HOST", ""))
    if not open_ports:
        continue
    for var in ("RPCBATCH_OPENSSL_CERTIFICATE", "RPCBATCH_OPENSSL_KEY", "RPCBATCH_OPENSSL_CAFILE"):
        path = e.get(var)
        if not path:
            fail(f"{n} binds {open_ports} beyond loopback without {var}")
            continue
        mount = [(src, dst) for src, dst, ro in mounts(n) if path.startswith(dst.rstrip("/") + "/")]
        if not mount or not any(ro for src, dst, ro in mounts(n) if (src, dst) == mount[0]):
            fail(f"{n}: {var}={path} is not on a read-only volume")
            continue
        volume = mount[0][0]
        # The services that fill that volume: each one copies the file out
        # of deploy/compose/certs, and the node waits for it to finish.
        fillers = [s for s in services if s != n and any(
            src == volume and not ro for src, dst, ro in mounts(s))]
        if not fillers:
            fail(f"{n}: nothing fills the volume {volume} with {path}")
        for s in fillers:
            script = " ".join(services[s].get("command") or [])
            if not any(src == certs_dir and ro for src, dst, ro in mounts(s)):
                fail(f"{s} does not mount deploy/compose/certs read-only")
            if os.path.basename(path) not in script or "ca.key" in script:
                fail(f"{s} does not copy {os.path.basename(path)} (or copies ca.key)")
            if (services[n].get("depends_on") or {}).get(s, {}).get("condition") \
                    != "service_completed_successfully":
                fail(f"{n} does not wait for {s} to complete")
top = os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[2])))
if os.path.isdir(os.path.join(top, ".git")) or os.path.isfile(os.path.join(top, ".git")):
    if subprocess.run(["git", "-C", top, "check-ignore", "-q",
                       "deploy/compose/certs/ca.key"]).returncode != 0:
        fail("git does not ignore deploy/compose/certs (private keys)")

# Prometheus and Grafana: the nodes profile only, pinned images, their
# configuration from deploy/ mounted read-only.
deploy = os.path.dirname(os.path.dirname(sys.argv[2]))
raw = yaml.safe_load(open(sys.argv[2]))["services"]
for name, repo in (("prometheus", "prom/prometheus"), ("grafana", "grafana/grafana")):
    if name not in services:
        fail(f"no {name} service")
        continue
    if services[name].get("profiles") != ["nodes"]:
        fail(f"{name} is not in the nodes profile only: {services[name].get('profiles')}")
    image = str(services[name].get("image", ""))
    if not image.startswith(repo + ":") or image.partition(":")[2] in ("", "latest"):
        fail(f"{name} is not {repo} with a pinned tag: {image!r}")
    for src, dst, ro in mounts(name):
        if str(src).startswith(deploy + "/") and not ro:
            fail(f"{name} mounts {src} writable")

def mounted(name, path, target=None):
    """The container path where service `name` mounts deploy/PATH read-only."""
    for src, dst, ro in mounts(name):
        if src == os.path.join(deploy, path) and ro and (target is None or dst == target):
            return dst
    fail(f"{name} does not mount deploy/{path} read-only" + (f" at {target}" if target else ""))

# Prometheus scrapes each node's HTTP port and nothing else: the ingest node
# by name, a batcher service by its DNS name (type A: every replica).
if "prometheus" in services:
    mounted("prometheus", "prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml")
    prom = yaml.safe_load(open(os.path.join(deploy, "prometheus", "prometheus.yml")))
    targets = {}
    for job in prom.get("scrape_configs") or []:
        if job.get("metrics_path", "/metrics") != "/metrics":
            fail(f"prometheus job {job.get('job_name')} scrapes {job['metrics_path']}")
        for sc in job.get("static_configs") or []:
            for t in sc.get("targets") or []:
                targets[t] = "static"
        for dc in job.get("dns_sd_configs") or []:
            for n in dc.get("names") or []:
                kind = "A" if dc.get("type") == "A" else dc.get("type", "SRV")
                targets[f"{n}:{dc.get('port')}"] = "dns " + kind
    wanted = {f"{n}:{env(n).get('RPCBATCH_HTTP_PORT')}": n for n in ingest + batchers}
    for t, n in wanted.items():
        if t not in targets:
            fail(f"prometheus does not scrape {n}'s HTTP port ({t}): {sorted(targets)}")
        elif n in batchers and targets[t] != "dns A":
            fail(f"prometheus scrapes {t} as {targets[t]}, not by DNS type A (every replica)")
    for t in sorted(set(targets) - set(wanted)):
        fail(f"prometheus scrapes {t}, which is no node's HTTP port")
    # The dashboard opens on a job that Prometheus has.
    import json
    dash = json.load(open(os.path.join(deploy, "grafana", "rpcbatch-dashboard.json")))
    jobs = {j.get("job_name") for j in prom.get("scrape_configs") or []}
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("name") == "job" and (v.get("current") or {}).get("value") not in jobs:
            fail(f"the dashboard's job {v['current'].get('value')!r} is none of prometheus' {sorted(jobs)}")

# Grafana: Prometheus as its data source, the dashboard where its provider
# looks, anonymous users viewers at most, no password in the file.
if "grafana" in services:
    from urllib.parse import urlparse
    prov = "/etc/grafana/provisioning"
    mounted("grafana", "grafana/provisioning/datasources", prov + "/datasources")
    mounted("grafana", "grafana/provisioning/dashboards", prov + "/dashboards")
    ds_file = os.path.join(deploy, "grafana", "provisioning", "datasources", "prometheus.yaml")
    sources = [d for d in yaml.safe_load(open(ds_file)).get("datasources") or []
               if d.get("type") == "prometheus"]
    urls = [urlparse(d.get("url", "")) for d in sources]
    if len(urls) != 1 or urls[0].hostname != "prometheus" or (urls[0].port or 80) != 9090:
        fail(f"grafana's data source is not http://prometheus:9090: {[d.get('url') for d in sources]}")
    dash_dst = mounted("grafana", "grafana/rpcbatch-dashboard.json")
    prov_dir = os.path.join(deploy, "grafana", "provisioning", "dashboards")
    paths = [p.get("options", {}).get("path")
             for f in sorted(os.listdir(prov_dir)) if f.endswith((".yaml", ".yml"))
             for p in yaml.safe_load(open(os.path.join(prov_dir, f))).get("providers") or []
             if p.get("type", "file") == "file"]
    if dash_dst and not any(p and os.path.dirname(dash_dst) == p.rstrip("/") for p in paths):
        fail(f"grafana mounts the dashboard at {dash_dst}, where no provider looks: {paths}")
    genv = (raw.get("grafana") or {}).get("environment") or {}
    if isinstance(genv, list):
        genv = dict(x.split("=", 1) if "=" in x else (x, None) for x in genv)
    for k, v in genv.items():
        if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN")) and not k.endswith("__FILE") \
                and v is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}", str(v)):
            fail(f"grafana's {k} is not a variable of the environment without a default: {v!r}")
    if env("grafana").get("GF_AUTH_ANONYMOUS_ENABLED", "false").lower() == "true" \
            and env("grafana").get("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer") != "Viewer":
        fail("grafana gives anonymous users more than Viewer")
    for name, port in (("grafana", "3000"), ("prometheus", "9090")):
        if port not in published.get(name, []):
            fail(f"{name} does not publish {port} (on 127.0.0.1)")

# The local profile: started by name with its dependencies, it needs no
# image from a registry (every image is built from this repository), and
# its services answer to the names of the nodes profile that
# deploy/rpcbatch.conf and deploy/prometheus/prometheus.yml use.
local = {name for name, s in every.items() if "local" in (s.get("profiles") or [])}
closure, queue = set(), sorted(local)
while queue:
    name = queue.pop()
    if name in closure:
        continue
    closure.add(name)
    queue += list(every[name].get("depends_on") or [])
for name in sorted(closure):
    if "build" not in every[name]:
        fail(f"the local profile's {name} needs the image {every[name].get('image')} "
             "from a registry")
names = set()
for name in closure:
    names.add(name)
    for net in (every[name].get("networks") or {}).values():
        names.update((net or {}).get("aliases") or [])
for wanted in ("kafka", "ingest", "batcher", "prometheus", "resolver"):
    if wanted not in names:
        fail(f"no service of the local profile answers to {wanted}")

for f in failures:
    print("FAIL:", f)
print(f"{len(services)} services; ingest {ingest}, batchers {batchers} x {replicas}; "
      f"local profile {sorted(closure)}")
sys.exit(1 if failures else 0)
PY
