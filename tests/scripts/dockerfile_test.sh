#!/usr/bin/env bash
# The Dockerfile without a container engine: its build stage builds with
# deploy/setup.sh (the README's set-up) and nothing else, and the packages
# of its runtime stage (with their dependencies) provide every library that
# the shipped binaries link (ldd, mapped to packages with dpkg -S).
# Usage: dockerfile_test.sh BIN_DIR
set -euo pipefail

bin=${1:?usage: $0 BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)

exec python3 - "$top" "$bin" <<'PY'
import os, re, subprocess, sys

top, bin_dir = sys.argv[1], sys.argv[2]
failures = []

def fail(msg):
    failures.append(msg)

def instructions(text):
    """Dockerfile instructions as (KEYWORD, arguments), continuations joined."""
    out, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out

steps = instructions(open(os.path.join(top, "Dockerfile")).read())
stages, stage = [], None
for word, rest in steps:
    if word == "FROM":
        stage = {"from": rest, "steps": []}
        stages.append(stage)
    elif stage is not None:
        stage["steps"].append((word, rest))
if len(stages) != 2:
    fail(f"expected a build and a runtime stage, found {len(stages)}")
    stages += [{"from": "", "steps": []}] * 2
build, runtime = stages[0], stages[-1]

for s in (build, runtime):
    if not re.match(r"debian:bookworm-slim\b", s["from"]):
        fail(f"stage not on debian:bookworm-slim: FROM {s['from']}")

# The build stage: deploy/setup.sh for the packages and for the build, and
# no package or build command of its own that could drift from it.
runs = [rest for word, rest in build["steps"] if word == "RUN"]
setup = [r for r in runs if "deploy/setup.sh" in r]
if not any("--deps-only" in r for r in setup):
    fail("the build stage does not install packages with deploy/setup.sh --deps-only")
if not any("--deps-only" not in r for r in setup):
    fail("the build stage does not build with deploy/setup.sh")
for r in runs:
    if re.search(r"(?<![/\w-])(apt-get|apt|cmake|make|g\+\+|dpkg)\b", r):
        fail(f"the build stage runs its own build or package command: RUN {r}")

# The runtime stage: its packages, a non-root user, the binaries, the
# entrypoint.
packages = []
for word, rest in runtime["steps"]:
    if word == "RUN" and "apt-get install" in rest:
        for command in rest.split("&&"):
            tokens = command.split()
            if "install" in tokens and "apt-get" in tokens:
                packages += [t for t in tokens[tokens.index("install") + 1:]
                             if not t.startswith("-")]
if not packages:
    fail("the runtime stage installs no packages")
users = [rest for word, rest in runtime["steps"] if word == "USER"]
if not users or users[-1].split(":")[0] in ("0", "root"):
    fail(f"the runtime stage runs as root (USER {users})")
if not any(word == "COPY" and "--from=build" in rest and "/build/bin/" in rest
           for word, rest in runtime["steps"]):
    fail("the runtime stage does not copy build/bin from the build stage")
entry = [rest for word, rest in runtime["steps"] if word == "ENTRYPOINT"]
if not entry or "rpcbatch-node" not in entry[-1]:
    fail(f"the entrypoint is not rpcbatch-node: {entry}")
if any(word == "RUN" and "apt-get install" in rest and "--no-install-recommends" not in rest
       for word, rest in runtime["steps"]):
    fail("the runtime stage installs recommended packages too")

# Every installed package with its dependencies, in one query.
database = {}
listing = subprocess.run(
    ["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Depends}, ${Pre-Depends}\n"],
    capture_output=True, text=True, check=True).stdout
for line in listing.splitlines():
    name, status, deps = line.split("\t")
    if "install ok installed" not in status:
        continue
    database[name] = [alt.strip().split(" ")[0].split(":")[0]
                      for clause in deps.split(",") for alt in clause.split("|")
                      if alt.strip()]

# Everything apt installs with the listed packages (as far as they and
# their dependencies are installed here, which the build needs anyway).
closure, queue = set(), []
for p in packages:
    if p not in database:
        fail(f"runtime package {p} is not a package installed here (misspelt?)")
    else:
        queue.append(p)
while queue:
    p = queue.pop()
    if p in closure:
        continue
    closure.add(p)
    queue += [d for d in database[p] if d not in closure and d in database]

def candidates(path):
    """The names dpkg may know a library by (merged /usr or not)."""
    out = {path, os.path.realpath(path)}
    for c in list(out):
        out.add(c[len("/usr"):] if c.startswith("/usr/lib/") else
                "/usr" + c if c.startswith("/lib/") else c)
    return out

tools = sorted("rpcbatch-" + f[:-4] for f in os.listdir(os.path.join(top, "services", "programs", "bin"))
               if f.endswith(".cpp"))
links = {}  # library path -> the tools that link it
for tool in tools:
    path = os.path.join(bin_dir, tool)
    if not os.path.exists(path):
        fail(f"{path} is missing: build first")
        continue
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "not found" in line:
            fail(f"{tool}: {line.strip()}")
        m = re.search(r"=> (/\S+)", line)
        if m:
            links.setdefault(m.group(1), []).append(tool)
if not links:
    fail("ldd listed no libraries")
names = sorted(set().union(*(candidates(lib) for lib in links))) if links else []
owners = {}
search = subprocess.run(["dpkg", "-S"] + names, capture_output=True, text=True)
for line in search.stdout.splitlines():
    pkg, _, path = line.partition(": ")
    owners[path.strip()] = pkg.split(":")[0].split(",")[0].strip()
for lib, users in sorted(links.items()):
    pkg = next((owners[c] for c in candidates(lib) if c in owners), None)
    if pkg is None:
        fail(f"{lib} ({', '.join(users)}) belongs to no Debian package")
    elif pkg not in closure:
        fail(f"{lib} ({', '.join(users)}) comes from {pkg}, which the runtime "
             f"stage does not install (add it to its apt-get install)")

ignore = open(os.path.join(top, ".dockerignore")).read().split()
if "build" not in ignore:
    fail(".dockerignore does not leave out build/")

for f in failures:
    print("FAIL:", f)
print(f"{len(tools)} binaries, {len(links)} libraries, runtime packages "
      f"{' '.join(packages)} ({len(closure)} with dependencies)")
sys.exit(1 if failures else 0)
PY
