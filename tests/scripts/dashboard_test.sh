#!/usr/bin/env bash
# deploy/grafana/rpcbatch-dashboard.json against a running node. The JSON
# parses, has a uid and panels; every panel has a title, gridPos inside the
# 24 columns and no overlap with another; every panel that is not a row has
# at least one target with an expr; and every panel, target and templating
# variable queries the data source that
# deploy/grafana/provisioning/datasources/prometheus.yaml provisions (by its
# uid). Then rpcbatch-node --http-port=0 (the embedded broker, resolver and
# text generator) runs, and every rpcbatch_* name that an expr or a
# templating query mentions must be a series its /metrics exposes: a name
# from a `# TYPE` line or a sample line, where a histogram's family name
# counts only with _bucket, _sum or _count (the series that exist). Each
# missing name fails the test with the panels that query it.
# Usage: dashboard_test.sh BIN_DIR
set -euo pipefail

bin=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
dashboard=$top/deploy/grafana/rpcbatch-dashboard.json
datasources=$top/deploy/grafana/provisioning/datasources/prometheus.yaml
work=$(mktemp -d)
node_pid=""

stop_node() {
  [ -n "$node_pid" ] || return 0
  if kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    # SIGTERM drains the node (every word confirmed first): give it 15 s.
    for _ in $(seq 150); do
      kill -0 "$node_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$node_pid" 2>/dev/null || true
  fi
  wait "$node_pid" 2>/dev/null || true
  node_pid=""
}

cleanup() {
  stop_node
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/scripts/script_lib.sh
. "$(dirname "$0")/script_lib.sh"

# -- the dashboard on its own -------------------------------------------------

[ -f "$dashboard" ] || fail "no $dashboard"
[ -f "$datasources" ] || fail "no $datasources"

python3 - "$dashboard" "$datasources" <<'PY' || fail "the dashboard is malformed"
import json, sys, yaml

failures = []
try:
    dash = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit(f"FAIL: {sys.argv[1]} does not parse: {e}")
if not isinstance(dash, dict):
    sys.exit("FAIL: the dashboard is not a JSON object")

provisioned = [d for d in (yaml.safe_load(open(sys.argv[2])) or {}).get("datasources") or []
               if d.get("type") == "prometheus"]
if len(provisioned) != 1 or not provisioned[0].get("uid"):
    sys.exit("FAIL: the provisioning file has not exactly one Prometheus data source with a uid")
uid = provisioned[0]["uid"]

def same_source(ds):
    return isinstance(ds, dict) and ds.get("uid") == uid and ds.get("type") in (None, "prometheus")

for key in ("uid", "title", "schemaVersion"):
    if not dash.get(key):
        failures.append(f"the dashboard has no {key}")

# Rows may hold their panels (when collapsed).
panels = []
for p in dash.get("panels") or []:
    panels.append(p)
    panels.extend(p.get("panels") or [])
if not any(p.get("type") != "row" for p in panels):
    failures.append("the dashboard has no panels")

cells = {}
for i, p in enumerate(panels):
    title = p.get("title")
    name = f"panel {p.get('id', i)} ({title!r})"
    if not isinstance(title, str) or not title.strip():
        failures.append(f"{name} has no title")
    g = p.get("gridPos") or {}
    if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) \
            or g["x"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24:
        failures.append(f"{name} has no gridPos within 24 columns: {g}")
    else:
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells and cells[(x, y)] != name:
                    failures.append(f"{name} overlaps {cells[(x, y)]}")
                cells.setdefault((x, y), name)
    if p.get("type") == "row":
        continue
    targets = p.get("targets") or []
    if not targets:
        failures.append(f"{name} has no target")
    if not same_source(p.get("datasource")):
        failures.append(f"{name} does not query the provisioned data source "
                        f"(uid {uid!r}): {p.get('datasource')}")
    for t in targets:
        if not isinstance(t.get("expr"), str) or not t["expr"].strip():
            failures.append(f"{name}, target {t.get('refId')}: no expr")
        if "datasource" in t and not same_source(t["datasource"]):
            failures.append(f"{name}, target {t.get('refId')}: not the provisioned "
                            f"data source: {t['datasource']}")

for v in (dash.get("templating") or {}).get("list") or []:
    if v.get("type") == "query" and not same_source(v.get("datasource")):
        failures.append(f"variable {v.get('name')} does not query the provisioned "
                        f"data source: {v.get('datasource')}")

for f in dict.fromkeys(failures):
    print("FAIL:", f)
print(f"dashboard: {sum(p.get('type') != 'row' for p in panels)} panels, "
      f"data source uid {uid!r}")
sys.exit(1 if failures else 0)
PY

# -- a running node's /metrics ------------------------------------------------

(cd "$work" && exec "$bin/rpcbatch-node" --http-port=0) \
  >"$work/node.out" 2>"$work/node.log" &
node_pid=$!

listening() {
  kill -0 "$node_pid" 2>/dev/null || fail "rpcbatch-node exited before listening"
  grep -qE "http listening on 127\.0\.0\.1:[0-9]+$" "$work/node.out"
}
await 200 listening || fail "rpcbatch-node printed no 'http listening on' line in 20 s"
address=$(grep -m1 -oE "http listening on 127\.0\.0\.1:[0-9]+$" "$work/node.out")
address=${address#http listening on }
echo "node: http on $address"

# 0 once GET /metrics answered 200, its body in $work/metrics.
metrics_ok() {
  python3 - "http://$address/metrics" "$work/metrics" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        body = r.read()
        if r.status != 200:
            sys.exit(1)
except Exception:
    sys.exit(1)
open(sys.argv[2], "wb").write(body)
PY
}
await 300 metrics_ok || fail "GET http://$address/metrics did not answer 200 in 30 s"
grep -qx "rpcbatch_up 1" "$work/metrics" || fail "/metrics has no 'rpcbatch_up 1'"

python3 - "$dashboard" "$work/metrics" <<'PY' || fail "the dashboard queries metrics that the node does not expose"
import json, re, sys

dash = json.load(open(sys.argv[1]))
types, samples = {}, set()
for line in open(sys.argv[2]):
    line = line.strip()
    m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", line)
    if m:
        types[m.group(1)] = m.group(2)
    elif line and not line.startswith("#"):
        samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))

# The series a query can select: every sample name; every family but a
# histogram's, whose series are NAME_bucket, NAME_sum and NAME_count (and
# a summary's NAME_sum and NAME_count besides NAME).
exposed = set(samples)
for name, kind in types.items():
    if kind == "histogram":
        exposed |= {name + "_bucket", name + "_sum", name + "_count"}
    else:
        exposed.add(name)
        if kind == "summary":
            exposed |= {name + "_sum", name + "_count"}

queries = []  # (where, query text)
panels = []
for p in dash.get("panels") or []:
    panels.append(p)
    panels.extend(p.get("panels") or [])
for p in panels:
    for t in p.get("targets") or []:
        queries.append((f"panel {p.get('title')!r}", t.get("expr") or ""))
for v in (dash.get("templating") or {}).get("list") or []:
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else q or ""
    queries.append((f"variable {v.get('name')!r}", q))
    queries.append((f"variable {v.get('name')!r}", v.get("definition") or ""))

used = {}
for where, text in queries:
    for name in re.findall(r"(?<![A-Za-z0-9_:])rpcbatch_[A-Za-z0-9_:]*", text):
        used.setdefault(name, set()).add(where)
if not used:
    sys.exit("FAIL: no expr of the dashboard names an rpcbatch_ metric")

missing = sorted(n for n in used if n not in exposed)
for n in missing:
    why = " (a histogram: query its _bucket, _sum or _count)" \
        if types.get(n) == "histogram" else ""
    print(f"FAIL: the node does not expose {n}{why}; queried by "
          + ", ".join(sorted(used[n])))
print(f"{len(used) - len(missing)} of {len(used)} metrics the dashboard queries are "
      f"exposed: {' '.join(sorted(n for n in used if n in exposed))}")
sys.exit(1 if missing else 0)
PY

stop_node
echo "dashboard_test: ok"
