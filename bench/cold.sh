#!/usr/bin/env bash
# Cold start: whole `clawc` processes against the floor of any Swift process. Run by hand, not in CI:
#
#   bench/cold.sh [--runs N]
#
# 1. builds the release clawc, statically linked, in .build-static (CLAWC=path to use another binary), and the
#    static Foundation hello-world in bench/hello (HELLO=path for another); BEFORE=path adds an older clawc's
#    compile and check to the same hyperfine invocation, for a before-and-after comparison;
# 2. writes 1,000 golden cases of the shipped rules (the generator of the Benchmarks package's
#    `check: 1,000 golden cases`) and their reviewed policies (`clawc check --update`);
# 3. times, in one hyperfine invocation: the hello-world, `clawc --version`, `clawc compile` of the example task,
#    and `clawc check` over the 1,000 cases;
# 4. counts instructions with valgrind's callgrind (stable on a noisy machine) for the hello-world and the
#    example compile, and prints the compile's ten costliest functions, inclusive.
#
# See docs/benchmarks.md, "Cold start".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
runs=40
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }

clawc="${CLAWC:-$repo/.build-static/release/clawc}"
if [[ -z "${CLAWC:-}" ]]; then
    (cd "$repo" && swift build -c release --static-swift-stdlib --scratch-path .build-static --product clawc >&2)
fi
hello="${HELLO:-$here/hello/.build/release/hello}"
if [[ -z "${HELLO:-}" ]]; then
    (cd "$here/hello" && swift build -c release --static-swift-stdlib >&2)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/golden" <<'EOF'
import os, sys
golden = sys.argv[1]
os.makedirs(golden)
for index in range(1000):
    if index % 3 == 0:
        targets = "\n".join(f'  - "arn:aws:logs:us-east-1:123456789012:log-group:/acme/app-{n}:*"' for n in range(1 + index % 7))
        task = f"taskId: t-{index}\npurpose: log-analysis\ntags: {{bucket: acme-logs-{index}}}\ntargetResources:\n{targets}\n"
    elif index % 3 == 1:
        region = ["us-east-1", "us-west-2", "eu-west-1"][index % 3]
        task = f"taskId: t-{index}\npurpose: inventory-query\ntags: {{region: {region}}}\n"
    else:
        task = f"taskId: t-{index}\npurpose: config-audit\ntags: {{aggregator: config-aggregator-{index}}}\n"
    with open(os.path.join(golden, f"case-{index}.task.yaml"), "w") as f:
        f.write(task)
EOF
"$clawc" check --rules "$repo/rules" --golden "$work/golden" --update 2>/dev/null || true
"$clawc" check --rules "$repo/rules" --golden "$work/golden" 2>&1 | tail -1 >&2

task="$repo/golden/log-analysis/one-bucket.task.yaml"
before=()
if [[ -n "${BEFORE:-}" ]]; then
    before=(-n "before: clawc compile (example task)" "$BEFORE compile --rules $repo/rules --task $task"
            -n "before: clawc check (1,000 golden cases)" "$BEFORE check --rules $repo/rules --golden $work/golden")
fi
echo "== whole processes, one hyperfine invocation ($runs runs each, 5 warm-up)"
hyperfine -N --style basic --warmup 5 --runs "$runs" \
    -n "hello-world (static Foundation)" "$hello" \
    -n "clawc --version" "$clawc --version" \
    -n "clawc compile (example task)" "$clawc compile --rules $repo/rules --task $task" \
    -n "clawc check (1,000 golden cases)" "$clawc check --rules $repo/rules --golden $work/golden" \
    "${before[@]}" 2>&1 | grep -E "^Benchmark|Time \(mean|Range"

if command -v valgrind >/dev/null; then
    echo "== instructions (valgrind --tool=callgrind)"
    # callgrind cannot read the debug information of a binary this large; a copy without it reads fine.
    strip --strip-debug -o "$work/clawc" "$clawc"
    for what in hello compile; do
        if [[ $what == hello ]]; then command=("$hello"); else command=("$work/clawc" compile --rules "$repo/rules" --task "$task"); fi
        valgrind --tool=callgrind --callgrind-out-file="$work/$what.out" "${command[@]}" >/dev/null 2>"$work/$what.log"
        echo "$what: $(grep -o 'Collected : [0-9]*' "$work/$what.log" | grep -o '[0-9]*') instructions"
    done
    echo "== the compile's costliest functions, inclusive"
    callgrind_annotate --inclusive=yes "$work/compile.out" 2>/dev/null | grep -E '^ *[0-9,]+ ' | sed -n '2,40p' |
        grep -vE 'below main|libc_start|swift_job|swift_task|runJob|future_adapter|async_Main|0x0000' | head -20 | cut -c1-160
fi
