#!/usr/bin/env bash
# The broker benchmark (docs/benchmarks.md, "The broker"). Run by hand, not in CI:
#
#   bench/broker.sh [--rate N] [--seconds N] [--no-postgres]
#
# 1. builds the release clawc and bench-sts (a fast STS peer in Swift, Sources/bench-sts);
# 2. starts a throwaway PostgreSQL server (Tests/peers/pg.sh) for the shared-ledger runs, unless --no-postgres;
# 3. runs bench/broker.py: the STS peer alone, `clawc serve` at a fixed rate with 0 and 20 ms of added STS latency on
#    the SQLite and PostgreSQL ledgers, the highest rate per node, and `clawc issue` processes for comparison.
# Needs wrk (Debian), Python 3.11 with Tests/peers/requirements.txt. About five minutes on a 2-core machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
postgres=1
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-postgres) postgres=0; shift ;;
        --rate|--seconds|--max-seconds|--process-runs) args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "broker.sh: needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }

swift build -c release --product clawc
swift build -c release --product bench-sts
bin=$(swift build -c release --show-bin-path)

if [[ $postgres == 1 ]]; then
    pg_dir=$(mktemp -d /tmp/clawc-bench-pg.XXXXXX)
    trap 'Tests/peers/pg.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
    url=$(Tests/peers/pg.sh start "$pg_dir" 54339)
    args+=(--postgres "$url")
fi
python3 bench/broker.py --clawc "$bin/clawc" --bench-sts "$bin/bench-sts" "${args[@]}"
