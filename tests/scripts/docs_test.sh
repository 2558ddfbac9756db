#!/usr/bin/env bash
# The documentation and the programs agree: every `--option` that README.md
# or docs/*.md names exists in the --long-help of the program it is named
# for, every option of the node's --help appears in them, the README has
# at most 200 lines, and .ci/run runs the README's test command.
#
# An option belongs to the program named last before it in its paragraph,
# list item, table row or code block, or else to one of those its section
# named before it (rpcbatch-node by default). After another command (docker, cmake, kcat, the scripts of
# deploy/ and tests/, ...) options are left out until a program of ours is
# named again. Families such as --kafka.NAME match their prefix;
# placeholders (--NAME) are skipped.
# Usage: docs_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:?usage: docs_test.sh BIN_DIR}

python3 - "$top" "$bin" <<'EOF'
import glob, os, re, subprocess, sys

top, bin_dir = sys.argv[1], sys.argv[2]
docs = [os.path.join(top, "README.md")] + sorted(glob.glob(os.path.join(top, "docs", "*.md")))
if len(docs) < 2:
    sys.exit("FAIL: no docs/*.md")

program_re = re.compile(r"\brpcbatch-(node|console|resolver|client|broker|textgen|bench-[a-z]+)\b")
option_re = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*(?:\.[A-Za-z0-9_.-]*)?)")
foreign = re.compile(r"\b(docker|docker-compose|cmake|ctest|kcat|curl|perf|kubectl|git|apt-get|"
                     r"openssl|python3|dpkg|heaptrack|valgrind|gdb|debootstrap|"
                     r"[\w./-]+\.sh|farm-bench|helm)\b")

helps = {}
def options_of(program):
    if program not in helps:
        path = os.path.join(bin_dir, program)
        if not os.path.exists(path):
            sys.exit(f"FAIL: {path} is missing")
        out = "".join(subprocess.run([path, flag], capture_output=True, text=True).stdout
                      for flag in ("--help", "--long-help"))
        names = set(re.findall(r"--([a-z][a-z0-9.-]*)", out))
        # Families the usage text names as --kafka.NAME=VALUE.
        names |= {f + "." for f in re.findall(r"--([a-z][a-z0-9.-]*)\.NAME", out)}
        helps[program] = names
    return helps[program]

def known(program, option):
    names = options_of(program)
    if option in names:
        return True
    # A family (--kafka.NAME, --kafka.consumer.NAME, --openssl.key): its
    # prefix is in the help as "--kafka." or CAF's "--openssl.key".
    option = option.rstrip(".")
    parts = option.split(".")
    return any(".".join(parts[:i]) + "." in names for i in range(1, len(parts))) \
        or any(n.startswith(option + ".") for n in names)

failures = []
named = set()
FOREIGN = "-"
for doc in docs:
    rel = os.path.relpath(doc, top)
    section_program = "rpcbatch-node"
    # The program named last in the paragraph or code block (FOREIGN: a
    # command of someone else's).
    context = None
    in_code = False
    in_section = {section_program}
    for number, line in enumerate(open(doc, encoding="utf-8"), 1):
        if line.startswith("```"):
            in_code = not in_code
            context = None
            continue
        if not in_code:
            heading = re.match(r"^#+ (.*)", line)
            if heading:
                m = program_re.search(heading.group(1))
                section_program = "rpcbatch-" + m.group(1) if m else "rpcbatch-node"
                in_section = {section_program}
            if not line.strip() or re.match(r"\s*(\||[-*] |\d+\. )", line):
                context = None
            if not line.strip():
                continue
        tokens = sorted([(m.start(), "p", "rpcbatch-" + m.group(1)) for m in program_re.finditer(line)] +
                        [(m.start(), "p", FOREIGN) for m in foreign.finditer(line)] +
                        [(m.start(), "o", m.group(1)) for m in option_re.finditer(line)])
        for _, kind, value in tokens:
            if kind == "p":
                context = value
                if value != FOREIGN:
                    in_section.add(value)
                continue
            if re.search(r"[A-Z]", value) or value in ("help", "long-help"):
                continue
            named.add(value)
            if context == FOREIGN:
                continue
            # Named for a program in its paragraph, or else for one its
            # section names.
            if context and known(context, value):
                continue
            program = context or section_program
            if any(known(p, value) for p in in_section):
                continue
            if not known(program, value):
                failures.append(f"{rel}:{number}: --{value} is not an option of {program}")

out = subprocess.run([os.path.join(bin_dir, "rpcbatch-node"), "--help"],
                     capture_output=True, text=True).stdout
for option in sorted(set(re.findall(r"^\s+--([a-z][a-z0-9.-]*)", out, re.M))):
    if option not in ("help", "long-help") and option not in named:
        failures.append(f"rpcbatch-node --{option} appears nowhere in README.md or docs/")

# The README is a front page; the rest is in docs/.
readme_lines = open(os.path.join(top, "README.md")).read().count("\n")
if readme_lines > 200:
    failures.append(f"README.md has {readme_lines} lines (at most 200: the rest belongs in docs/)")

# CI runs the README's second command as it is written in .ci/run.
ci = open(os.path.join(top, ".ci", "run")).read()
command = "deploy/setup.sh && deploy/check.sh"
readme = open(os.path.join(top, "README.md")).read()
if "\n" + command + "\n" not in readme:
    failures.append(f"README.md does not show the test command `{command}`")
if "\n" + command + "\n" not in ci:
    failures.append(f".ci/run does not run `{command}`")

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print(f"ok: the options named in {len(docs)} pages exist; every option of rpcbatch-node --help is documented")
EOF
