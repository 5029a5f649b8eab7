#!/usr/bin/env bash
# The time to issue and to revoke one PostgreSQL credential (docs/benchmarks.md, "PostgreSQL credentials"). Run by
# hand, not in CI:
#
#   bench/postgres.sh [--runs N]
#
# Builds the release clawc, starts a throwaway PostgreSQL server (Tests/peers/pg.sh, every statement logged, as in
# the tests), makes a non-superuser administrative role and the `sales` tables of the example rule, then times N
# `clawc issue --to postgres` processes and N `clawc revoke --task` processes (each revoke also ending one live
# session), one after another. Needs Debian's postgresql (initdb, psql).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
runs=30
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

swift build -c release --product clawc
clawc="$(swift build -c release --show-bin-path)/clawc"
work=$(mktemp -d /tmp/clawc-bench-pgcred.XXXXXX)
pg_dir=$(mktemp -d /tmp/clawc-bench-pg.XXXXXX)    # its own folder: the server runs as another user when this runs as root
trap 'Tests/peers/pg.sh stop "$pg_dir"; rm -rf "$work" "$pg_dir"' EXIT
Tests/peers/pg.sh start "$pg_dir" 54341 >/dev/null
PGPASSWORD=clawc-test-password psql -q -h 127.0.0.1 -p 54341 -U clawc -d postgres <<'SQL'
CREATE ROLE clawc_admin LOGIN CREATEROLE PASSWORD 'admin-pw';
GRANT pg_signal_backend TO clawc_admin;
CREATE DATABASE shop OWNER clawc_admin;
\c shop
SET ROLE clawc_admin;
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int PRIMARY KEY, tenant_id text NOT NULL, total numeric NOT NULL, customer_email text);
CREATE TABLE sales.order_items (id int PRIMARY KEY, order_id int NOT NULL, tenant_id text NOT NULL, sku text, total numeric NOT NULL);
ALTER TABLE sales.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE sales.order_items ENABLE ROW LEVEL SECURITY;
INSERT INTO sales.orders VALUES (1, 't-acme', 10, 'a@acme.example');
SQL
admin="postgresql://clawc_admin:admin-pw@127.0.0.1:54341/shop"
mkdir -p "$work/rules"
cp rules/order-report.yaml "$work/rules/"
"$clawc" emit postgres-schema --database "$admin" > "$work/rules/postgres-schema.json"

python3 - "$clawc" "$admin" "$work" "$runs" <<'PY'
import json, statistics, subprocess, sys, time
clawc, admin, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def timed(argv):
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[1]} failed: {result.stderr}")
    return elapsed * 1000, result.stdout
issue, revoke = [], []
for i in range(runs + 3):
    task = f"{work}/task.yaml"
    open(task, "w").write(f"taskId: bench-{i}\npurpose: order-report\ntags: {{tenant: t-acme}}\nestimatedDuration: 10m\n")
    ms, out = timed([clawc, "issue", "--to", "postgres", "--rules", f"{work}/rules", "--task", task, "--database", admin, "--ledger", f"{work}/ledger.sqlite"])
    uri = json.loads(out)["uri"]
    sleeper = subprocess.Popen(["psql", uri, "-c", "SELECT pg_sleep(600)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    ms2, _ = timed([clawc, "revoke", "--task", f"bench-{i}", "--database", admin, "--ledger", f"{work}/ledger.sqlite"])
    sleeper.wait(10)
    if i >= 3:  # three warm-up rounds
        issue.append(ms); revoke.append(ms2)
def row(name, xs):
    xs = sorted(xs)
    return f"| {name} | {len(xs)} | {xs[len(xs)//2]:.1f} ms | {xs[min(len(xs)-1, int(0.99*len(xs)))]:.1f} ms | {statistics.fmean(xs):.1f} ms |"
print("| command (whole process) | runs | p50 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: |")
print(row("`clawc issue --to postgres`", issue))
print(row("`clawc revoke --task` (one live session ended)", revoke))
PY
