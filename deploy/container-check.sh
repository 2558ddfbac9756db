#!/usr/bin/env bash
# Runs the project's containers for real (deploy/check.sh's container pass):
#
#   engine    a running Docker engine; without one, starts Debian's dockerd
#             (docker.io, as root) in the background, log in
#             build/container-check/dockerd.log, and stops it at the end
#   base      debian:bookworm-slim, made once with debootstrap from the
#             host's apt mirror when the engine does not have it (no image
#             registry is needed; the image keeps the host's Debian sources)
#   build     the project's image (rpcbatch:dev, the Dockerfile) and
#             Prometheus from Debian's package (rpcbatch-prometheus:dev,
#             deploy/prometheus/Dockerfile)
#   embedded  rpcbatch:dev with no arguments (embedded broker, resolver and
#             text generator), hardened: read-only root file system, no
#             capabilities, no-new-privileges, user 10001, HTTP published on
#             127.0.0.1 only; output records appear in its log, /healthz and
#             /metrics answer, and `docker stop` drains it with exit code 0
#   compose   deploy/compose/compose.yaml's profile local (no image from a
#             registry): rpcbatch-broker in place of Kafka, the resolver, an
#             ingest node and two batcher nodes linked over TLS (certificates
#             of deploy/make-certs.sh), the text generator and Prometheus.
#             Records flow (the ingest node's output counter grows, and the
#             output topic holds JSON records, read with kcat), Prometheus has
#             every node's target up, and every query of
#             deploy/grafana/rpcbatch-dashboard.json returns data from it;
#             then `down -v` leaves no container, network or volume behind
#   k8s       deploy/k8s against the Kubernetes API's types (python3-
#             kubernetes' models, generated from the API's OpenAPI schema):
#             every field known, of the right type, required fields present;
#             a kind the models lack (cert-manager's) only parsed as YAML
#
#   deploy/container-check.sh
#   CONTAINERS=skip deploy/container-check.sh   # passes (saying so) when no
#                                               # engine runs or can start
#   STEPS="engine base k8s" deploy/container-check.sh   # only these steps
#
# Each step prints how long it took; any failure stops the check with a
# message and exit code 1. The check's containers, network and volumes go
# on exit, whatever happened (project rpcbatch-check).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
work=$top/build/container-check
mkdir -p "$work"
steps=(${STEPS:-engine base build embedded compose k8s})
image=rpcbatch:dev
prometheus_image=rpcbatch-prometheus:dev
base=debian:bookworm-slim
project=rpcbatch-check
compose_file=deploy/compose/compose.yaml
local_services=(broker local-ingest local-batcher local-textgen local-prometheus)
embedded=$project-embedded

say() { echo "container-check: $*"; }
fail() {
  say "FAILED: $*" >&2
  exit 1
}

# -- clean-up -------------------------------------------------------------------

dockerd_pid=""
# Debian's client when there is one (it builds with the engine's own
# BuildKit, which the Dockerfile's ccache mount needs; a newer client
# without the buildx plugin has only the legacy builder).
if [ -x /usr/bin/docker ]; then
  docker() { /usr/bin/docker "$@"; }
fi
export DOCKER_BUILDKIT=1
rootfs=""
compose=()
cleanup() {
  local status=$?
  set +e
  if [ -n "$rootfs" ]; then rm -rf "$rootfs"; fi
  if [ -n "$dockerd_pid" ] || docker info >/dev/null 2>&1; then
    docker rm -f "$embedded" >/dev/null 2>&1
    if [ ${#compose[@]} -gt 0 ]; then
      "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
    fi
  fi
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    say "stopped the dockerd it started"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- helpers --------------------------------------------------------------------

# Seconds since the epoch, with tenths.
now() { echo "${EPOCHREALTIME:0:-5}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

timings=()

# Runs a command with its output in LOG; on failure prints the log's tail.
logged() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "(whole output: $log)" >&2
    return 1
  fi
}

# Waits up to SECONDS for a command to succeed, every second.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}

# The value of an unlabelled counter or gauge in Prometheus' text format.
metric() {
  curl -fsS --max-time 5 "$1" | awk -v m="$2" '$1 == m { print $2; found = 1 }
    END { if (!found) exit 1 }'
}

# The Debian mirror apt uses here: the first deb source of the bookworm
# suite, from one-line or deb822 source files.
debian_mirror() {
  {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      sed -E 's/\[[^]]*\]//' "$f" \
        | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN { RS = ""; FS = "\n" }
           { uri = ""; deb = 0; suite = 0
             for (j = 1; j <= NF; j++) {
               line = $j " "
               if (line ~ /^Types:/ && line ~ /[ \t]deb[ \t]/) deb = 1
               if (line ~ /^URIs:/) { split(line, a, " "); uri = a[2] }
               if (line ~ /^Suites:/ && line ~ /[ \t]bookworm[ \t]/) suite = 1
             }
             if (deb && suite && uri != "") { print uri; exit } }' "$f"
    done
  } | head -n 1
}

# The host's apt source files that an image can use: those without a key
# of their own (Signed-By other than Debian's archive keyring).
debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
           /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] || continue
    if grep -qi 'signed-by' "$f" \
       && grep -i 'signed-by' "$f" | grep -vq 'debian-archive-keyring'; then
      continue
    fi
    echo "$f"
  done
}

# -- the steps --------------------------------------------------------------------

engine() {
  if docker info >/dev/null 2>&1; then
    say "engine: $(docker version -f 'Docker {{.Server.Version}}') running"
    return
  fi
  local why=""
  if ! command -v dockerd >/dev/null; then
    why="no container engine runs and dockerd is not installed (deploy/setup.sh installs docker.io)"
  elif [ "$(id -u)" -ne 0 ]; then
    why="no container engine runs, and only root can start dockerd"
  else
    say "engine: starting dockerd --storage-driver=overlay2 (log: $work/dockerd.log)"
    dockerd --storage-driver=overlay2 >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    local deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
      if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        tail -n 20 "$work/dockerd.log" >&2
        dockerd_pid=""
        why="dockerd exited (log above)"
        break
      fi
      if [ $SECONDS -ge $deadline ]; then
        tail -n 20 "$work/dockerd.log" >&2
        why="dockerd did not answer within 60 s (log above)"
        break
      fi
      sleep 0.5
    done
    if [ -z "$why" ]; then
      say "engine: $(docker version -f 'Docker {{.Server.Version}}') started"
      return
    fi
  fi
  if [ "${CONTAINERS:-}" = skip ]; then
    say "SKIPPED (CONTAINERS=skip): $why"
    exit 0
  fi
  fail "$why; CONTAINERS=skip skips this check"
}

base() {
  if docker image inspect "$base" >/dev/null 2>&1; then
    say "base: $base is there"
    return
  fi
  command -v debootstrap >/dev/null \
    || fail "$base is missing and debootstrap is not installed (deploy/setup.sh installs it)"
  local mirror
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || fail "$base is missing and no bookworm mirror is in /etc/apt/sources.list{,.d}"
  rootfs=$(mktemp -d "$work/rootfs.XXXXXX")
  say "base: debootstrap --variant=minbase bookworm from $mirror"
  logged "$work/debootstrap.log" \
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
    || fail "debootstrap failed"
  # The host's Debian sources (a mirror, the security archive), which the
  # image's apt-get uses; no package lists or downloaded packages.
  rm -f "$rootfs/etc/apt/sources.list"
  local f copied=()
  while read -r f; do
    cp "$f" "$rootfs$f"
    copied+=("$f")
  done < <(debian_sources)
  [ ${#copied[@]} -gt 0 ] || fail "no apt sources to copy into $base"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$base" >/dev/null \
    || fail "docker import of $base failed"
  rm -rf "$rootfs"
  rootfs=""
  say "base: $base made ($(docker image inspect -f '{{.Size}}' "$base" \
    | awk '{ printf "%d MB", $1 / 1e6 }'), apt sources ${copied[*]})"
}

build() {
  local t0
  t0=$(now)
  logged "$work/build.log" docker build -t "$image" . \
    || fail "docker build -t $image . failed"
  timings+=("build-project $(elapsed "$t0")")
  say "build: $image in $(elapsed "$t0") s"
  t0=$(now)
  logged "$work/build-prometheus.log" \
    docker build -t "$prometheus_image" deploy/prometheus \
    || fail "docker build -t $prometheus_image deploy/prometheus failed"
  timings+=("build-prometheus $(elapsed "$t0")")
  say "build: $prometheus_image in $(elapsed "$t0") s"
}

embedded() {
  docker rm -f "$embedded" >/dev/null 2>&1 || true
  docker run -d --name "$embedded" --read-only --cap-drop ALL \
    --security-opt no-new-privileges --user 10001:10001 \
    -e RPCBATCH_HTTP_HOST=0.0.0.0 -e RPCBATCH_HTTP_PORT=9464 \
    -p 127.0.0.1::9464 "$image" >/dev/null \
    || fail "docker run $image failed"
  local address
  address=$(docker port "$embedded" 9464/tcp | head -n 1)
  case $address in
    127.0.0.1:*) ;;
    *) fail "the HTTP port is published on '$address', not on 127.0.0.1" ;;
  esac
  outputs() {
    [ "$(docker logs "$embedded" 2>/dev/null | grep -c '^{"word":')" -ge 20 ]
  }
  if ! wait_for 60 outputs; then
    docker logs --tail 30 "$embedded" >&2
    fail "no 20 output records in the embedded node's log within 60 s"
  fi
  curl -fsS --max-time 5 "http://$address/healthz" >/dev/null \
    || fail "/healthz of the embedded node does not answer 2xx"
  local n
  n=$(metric "http://$address/metrics" rpcbatch_outputs_total) \
    || fail "/metrics of the embedded node has no rpcbatch_outputs_total"
  awk -v n="$n" 'BEGIN { exit !(n > 0) }' \
    || fail "rpcbatch_outputs_total is $n on the embedded node"
  say "embedded: $(docker logs "$embedded" 2>/dev/null | grep -c '^{"word":') output records printed, /healthz ok, rpcbatch_outputs_total $n (http://$address)"
  local t0 code
  t0=$(now)
  docker stop -t 70 "$embedded" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$embedded")
  if [ "$code" != 0 ]; then
    docker logs --tail 30 "$embedded" >&2
    fail "the embedded node exited with $code after docker stop, not 0"
  fi
  local log
  log=$(docker logs "$embedded" 2>&1)
  grep -q 'draining' <<<"$log" \
    || fail "the embedded node did not drain on docker stop"
  say "embedded: docker stop drained it in $(elapsed "$t0") s, exit code 0"
  docker rm "$embedded" >/dev/null
}

# Prometheus' answer to an API call, as JSON.
prometheus_api() {
  curl -fsS --max-time 10 "http://127.0.0.1:9090/api/v1/$1" "${@:2}"
}

# Every node target up: 1 ingest node, 2 batcher nodes.
targets_up() {
  prometheus_api targets | python3 -c '
import json, sys
active = json.load(sys.stdin)["data"]["activeTargets"]
up = {}
for t in active:
    up.setdefault(t["labels"]["job"], []).append(t["health"])
want = {"rpcbatch-ingest": 1, "rpcbatch-batcher": 2}
bad = {j: up.get(j, []) for j, n in want.items()
       if up.get(j, []).count("up") != n or len(up.get(j, [])) != n}
for j, h in bad.items():
    print(f"{j}: {h}", file=sys.stderr)
sys.exit(1 if bad else 0)'
}

# Every expr of the dashboard with its variables substituted, against
# Prometheus: prints those that return no data; fails if any.
dashboard_queries() {
  python3 - "$1" deploy/grafana/rpcbatch-dashboard.json <<'PY'
import json, sys, urllib.parse, urllib.request

job, path = sys.argv[1], sys.argv[2]
dash = json.load(open(path))
exprs = []
def walk(panels):
    for p in panels:
        for t in p.get("targets") or []:
            if t.get("expr"):
                exprs.append((p.get("title", "?"), t["expr"]))
        walk(p.get("panels") or [])
walk(dash.get("panels") or [])
# Grafana's variables: the job asked for, every node ($instance's "All"),
# a rate window of 1m, and the last 5 minutes as the dashboard's range.
subst = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s",
         "$job": job, "$instance": ".*"}
empty = []
for title, expr in exprs:
    q = expr
    for k in sorted(subst, key=len, reverse=True):
        q = q.replace(k, subst[k])
    if "$" in q:
        empty.append((title, q, "an unknown variable"))
        continue
    url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": q})
    answer = json.load(urllib.request.urlopen(url, timeout=10))
    if answer.get("status") != "success":
        empty.append((title, q, answer.get("error")))
    elif not answer["data"]["result"]:
        empty.append((title, q, "no data"))
for title, q, why in empty:
    print(f"  {title}: {q}: {why}", file=sys.stderr)
print(f"{len(exprs) - len(empty)} of {len(exprs)} queries return data (job {job})")
sys.exit(1 if empty else 0)
PY
}

compose_stack() {
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
  else
    fail "neither docker compose nor docker-compose is installed"
  fi
  compose+=(-p "$project" -f "$compose_file" --profile local)
  local t0
  deploy/make-certs.sh deploy/compose/certs >/dev/null \
    || fail "deploy/make-certs.sh deploy/compose/certs failed"
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  t0=$(now)
  logged "$work/compose-up.log" "${compose[@]}" up -d --no-build \
    "${local_services[@]}" || fail "compose up failed"
  say "compose: up in $(elapsed "$t0") s ($(docker ps -q \
    --filter "label=com.docker.compose.project=$project" | wc -l) containers)"

  # Records flow: the ingest node's output counter grows.
  local metrics=http://127.0.0.1:9464/metrics first second
  started() {
    first=$(metric "$metrics" rpcbatch_outputs_total) \
      && awk -v n="$first" 'BEGIN { exit !(n > 0) }'
  }
  t0=$(now)
  if ! wait_for 90 started; then
    "${compose[@]}" ps >&2
    "${compose[@]}" logs --tail 20 >&2
    fail "no outputs on the ingest node within 90 s ($metrics)"
  fi
  say "compose: first outputs after $(elapsed "$t0") s ($first)"
  grown() {
    second=$(metric "$metrics" rpcbatch_outputs_total) \
      && awk -v a="$first" -v b="$second" 'BEGIN { exit !(b > a) }'
  }
  wait_for 30 grown \
    || fail "the ingest node's outputs stay at $first for 30 s"
  say "compose: outputs grow ($first -> $second)"

  # The output topic holds the records, read from the host through the
  # broker's advertised address.
  if command -v kcat >/dev/null; then
    local broker records
    broker=$(docker inspect -f \
      '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
      "$("${compose[@]}" ps -q broker)" | awk '{ print $1 }')
    records=$(timeout 30 kcat -b "$broker:19092" -C -t rpc-pardo-stateful \
      -o beginning -c 10 -e -q 2>&1) || true
    [ "$(grep -c '^{"word":' <<<"$records")" -ge 10 ] \
      || fail "10 records not in rpc-pardo-stateful at $broker:19092: $records"
    say "compose: rpc-pardo-stateful holds records (kcat at $broker:19092): $(head -n 1 <<<"$records")"
  else
    say "compose: kcat not installed, the output topic not read"
  fi

  # Prometheus: every node's target up.
  if ! wait_for 60 targets_up; then
    targets_up || true
    fail "Prometheus does not have every node target up within 60 s"
  fi
  say "compose: Prometheus has 1 ingest and 2 batcher targets up"

  # The dashboard's queries: rates need two samples in their window.
  t0=$(now)
  local deadline=$((SECONDS + 90)) result
  until result=$(dashboard_queries rpcbatch-ingest 2>"$work/queries.err"); do
    if [ $SECONDS -ge $deadline ]; then
      cat "$work/queries.err" >&2
      fail "dashboard queries without data after 90 s: $result"
    fi
    sleep 5
  done
  say "compose: $result, after $(elapsed "$t0") s"
  if result=$(dashboard_queries rpcbatch-batcher 2>"$work/queries.err"); then
    say "compose: $result"
  else
    say "compose: $result (the dashboard opens on rpcbatch-ingest; this job is a choice)"
  fi

  # down -v leaves nothing of the project.
  t0=$(now)
  logged "$work/compose-down.log" "${compose[@]}" down -v --remove-orphans \
    || fail "compose down failed"
  local label="label=com.docker.compose.project=$project" left
  left="$(docker ps -aq --filter "$label")$(docker network ls -q \
    --filter "$label")$(docker volume ls -q --filter "$label")"
  [ -z "$left" ] \
    || fail "after down -v, project $project still has: $left"
  say "compose: down -v in $(elapsed "$t0") s, no container, network or volume left"
}

k8s() {
  # Debian's python3 (python3-kubernetes), whatever python3 is first in PATH.
  local py=python3
  [ -x /usr/bin/python3 ] && py=/usr/bin/python3
  "$py" - deploy/k8s <<'PY'
import glob, os, re, sys, yaml

paths = sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.yaml"), recursive=True))
docs = []
for path in paths:
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            docs.append((path, doc))
try:
    import kubernetes.client as k
except ImportError:
    print(f"k8s: {len(docs)} objects in {len(paths)} files parsed as YAML only: "
          "python3-kubernetes is not installed (deploy/setup.sh installs it); "
          "NOT checked against the Kubernetes API's types")
    sys.exit(0)

PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float),
             "object": object, "datetime": str, "date": str}
errors = []

def check(value, kind, where):
    if value is None:
        return
    # Lists and maps: each element against the element type.
    for pattern, container, what, items, path in (
            (r"list\[(.+)\]", list, "a list", enumerate, "{}[{}]"),
            (r"dict\(str, (.+)\)", dict, "a map", dict.items, "{}.{}")):
        m = re.fullmatch(pattern, kind)
        if not m:
            continue
        if not isinstance(value, container):
            errors.append(f"{where}: {what} expected")
            return
        for key, v in items(value):
            check(v, m.group(1), path.format(where, key))
        return
    if kind in PRIMITIVE:
        # (Quantities, as resources' limits and requests, may be numbers.)
        quantity = re.search(r"\.(limits|requests)\.[^.]+$", where)
        if kind == "str" and isinstance(value, (int, float, bool)) \
                and not (quantity and not isinstance(value, bool)):
            errors.append(f"{where}: a string expected, got {value!r}")
        elif kind in ("int", "bool") and (not isinstance(value, PRIMITIVE[kind])
                                          or (kind == "int" and isinstance(value, bool))):
            errors.append(f"{where}: {kind} expected, got {value!r}")
        return
    model = getattr(k, kind, None)
    if model is None:
        errors.append(f"{where}: no model {kind}")
        return
    if not isinstance(value, dict):
        errors.append(f"{where}: an object ({kind}) expected")
        return
    fields = {v: f for f, v in model.attribute_map.items()}
    for key, v in value.items():
        if key not in fields:
            errors.append(f"{where}.{key}: no such field in {kind}")
            continue
        check(v, model.openapi_types[fields[key]], f"{where}.{key}")
    # Required fields: those whose setter refuses None.
    for f in model.openapi_types:
        if model.attribute_map[f] in value:
            continue
        try:
            obj = model.__new__(model)
            obj.local_vars_configuration = k.Configuration()
            setattr(obj, f, None)
        except ValueError:
            errors.append(f"{where}: required field {model.attribute_map[f]} missing ({kind})")

# The API groups whose kinds the models describe; others (cert-manager's
# custom resources) are only parsed.
GROUPS = {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io",
          "rbac.authorization.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
          "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io"}
checked, parsed = [], []
for path, doc in docs:
    api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    group, _, version = api.rpartition("/")
    name = version.capitalize() + kind
    label = f"{os.path.relpath(path)}: {kind} {(doc.get('metadata') or {}).get('name')}"
    if group not in GROUPS or not hasattr(getattr(k, name, None), "attribute_map"):
        parsed.append(f"{label} ({api})")
        continue
    check(doc, name, label)
    checked.append(label)
for e in errors:
    print("FAIL:", e, file=sys.stderr)
print(f"k8s: {len(checked)} objects checked against python3-kubernetes "
      f"{getattr(k, '__version__', '?')} models (Kubernetes API types): "
      f"{', '.join(c.split(': ', 1)[1] for c in checked)}")
if parsed:
    print(f"k8s: parsed as YAML only, no model for their kind: {'; '.join(parsed)}")
sys.exit(1 if errors else 0)
PY
}

# -- main -------------------------------------------------------------------------

started=$(now)
for step in "${steps[@]}"; do
  case $step in
    engine | base | build | embedded | compose | k8s) ;;
    *) echo "usage: STEPS='engine base build embedded compose k8s' $0" >&2; exit 2 ;;
  esac
done
for step in "${steps[@]}"; do
  say "== $step"
  t0=$(now)
  case $step in
    compose) compose_stack ;;
    *) "$step" ;;
  esac
  timings+=("$step $(elapsed "$t0")")
  say "== $step: $(elapsed "$t0") s"
done
say "passed in $(elapsed "$started") s: $(printf '%s s, ' "${timings[@]}" | sed 's/, $//')"
