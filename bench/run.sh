#!/usr/bin/env bash
# Side-by-side comparison of clawc with policy_sentry and policyuniverse. Run by hand, not in CI:
#
#   bench/run.sh [--seed N] [--subset N] [--runs N] [--no-swift-bench]
#
# 1. makes bench/.venv with policy-sentry 0.15.2 (the version clawc's catalog is built from) and policyuniverse;
# 2. checks for hyperfine (installs Debian's package if it can; otherwise whole processes are timed in Python);
# 3. builds the release clawc, statically linked, in .build-static (CLAWC=path to use another binary), and the
#    static Foundation hello-world in bench/hello, the floor it is compared with;
# 4. generates the corpus (bench/make_corpus.py) and checks that clawc compiles every case to exactly its input;
# 5. measures (bench/bench.py): whole-process time with hyperfine, in-process time, policy size and what each
#    output grants beyond the input; clawc's warm compile from the Benchmarks package;
# 6. writes bench/out/results.json, bench/out/results.md, bench/out/sizes.md and prints the tables.
#
# It takes about ten minutes on a 2-core machine. See docs/benchmarks.md, "Against policy_sentry and policyuniverse".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
seed=1
subset=10
runs=20
warmup=3
swift_bench=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seed) seed="$2"; shift 2 ;;
        --subset) subset="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --no-swift-bench) swift_bench=0; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

POLICY_SENTRY_VERSION=0.15.2
POLICYUNIVERSE_VERSION=1.5.1.20231109   # the latest on PyPI when this was written

venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "policy-sentry==$POLICY_SENTRY_VERSION" "policyuniverse==$POLICYUNIVERSE_VERSION"

hyperfine_flag=()
if ! command -v hyperfine >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
        apt-get install -y -qq hyperfine >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hyperfine; } || true
    fi
fi
if ! command -v hyperfine >/dev/null 2>&1; then
    echo "hyperfine not found: timing whole processes in Python instead" >&2
    hyperfine_flag=(--no-hyperfine)
fi

# The release clawc, with the Swift runtime linked in statically: what a deployment that runs clawc per task
# would ship. (clawc no longer links FoundationNetworking or FoundationXML, so libcurl and libxml2 are not needed.)
clawc="${CLAWC:-$repo/.build-static/release/clawc}"
if [[ -z "${CLAWC:-}" ]]; then
    echo "building the release clawc (swift build -c release --static-swift-stdlib --scratch-path .build-static)" >&2
    (cd "$repo" && swift build -c release --static-swift-stdlib --scratch-path .build-static)
fi

# The floor: a static Foundation hello-world, built the same way and timed in the same hyperfine invocation.
echo "building the static hello-world (bench/hello)" >&2
(cd "$here/hello" && swift build -c release --static-swift-stdlib >&2)
hello="$here/hello/.build/release/hello"

mkdir -p "$here/out"
"$venv/bin/python" "$here/make_corpus.py" --seed "$seed" --clawc "$clawc" 2>"$here/out/corpus.log" || {
    tail -20 "$here/out/corpus.log" >&2
    exit 1
}
tail -1 "$here/out/corpus.log" >&2

swift_flag=()
if [[ $swift_bench -eq 1 ]]; then
    if command -v swift >/dev/null 2>&1; then swift_flag=(--swift-bench); else echo "no swift: skipping clawc's warm benchmark" >&2; fi
fi

"$venv/bin/python" "$here/bench.py" --clawc "$clawc" --policy-sentry "$venv/bin/policy_sentry" \
    --subset "$subset" --runs "$runs" --warmup "$warmup" --hello "$hello" "${hyperfine_flag[@]}" "${swift_flag[@]}"
