#!/usr/bin/env bash
# Time and peak memory of a release clawc on the hostile inputs of the soundness work: each must answer in under
# 1 s and 100 MB, and refuse or answer soundly. Run by hand:
#
#   bench/attacks.sh [CLAWC]      # CLAWC defaults to .build/release/clawc (built if missing)
#
# Prints one row per input: seconds, peak resident memory, exit status, and the first line clawc printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
clawc="${1:-$repo/.build/release/clawc}"
if [[ ! -x "$clawc" ]]; then
    (cd "$repo" && swift build -c release --product clawc >&2)
fi
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (Debian package \`time\`)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
q16="????????????????"
q80="$(printf '?%.0s' $(seq 1 80))"

# 1. Two 120-byte policies whose containment search is exponential in the run of `?` after a `*`.
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*a%s"}]}\n' "$q16" > "$work/old.json"
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*a%s*"}]}\n' "${q16%?}" > "$work/new.json"

# 2. A task with two 80-character targets against a rule of the same shape.
mkdir -p "$work/slow/rules"
cat > "$work/slow/rules/slow.yaml" <<EOF
purpose: slow
grants:
  - actions: [s3:GetObject]
    resources: ["arn:aws:s3:::b/*a${q16}*", "arn:aws:s3:::b/*c${q16}*"]
    narrow: targets
EOF
cat > "$work/slow/task.yaml" <<EOF
taskId: t-1
purpose: slow
targetResources: ["arn:aws:s3:::b/*a${q80:0:60}", "arn:aws:s3:::b/*c${q80:0:60}b"]
EOF

# 3. A 200 KB unknown service name (the did-you-mean search).
mkdir -p "$work/long/rules"
python3 - "$work/long" <<'EOF'
import sys
d = sys.argv[1]
open(f"{d}/rules/long.yaml", "w").write(
    "purpose: long\ngrants:\n  - actions: [\"" + "s" * 200_000 + ":GetObject\"]\n    resources: [\"*\"]\n")
open(f"{d}/task.yaml", "w").write("taskId: t-1\npurpose: long\n")
EOF

# 4. An estimate that overflows the lifetime arithmetic.
mkdir -p "$work/huge"
cp -r "$repo/rules" "$work/huge/rules"
printf 'taskId: t-1\npurpose: log-analysis\ntags: {bucket: acme-logs-1}\nestimatedDuration: 9223372036854775807\n' > "$work/huge/task.yaml"

# 5. Thousands of targets against the shipped rules (pairwise containment).
mkdir -p "$work/many"
python3 - "$work/many" <<'EOF2'
import sys
d = sys.argv[1]
lines = ["taskId: t-42", "purpose: log-analysis", "tags: {bucket: acme-logs-123}", "targetResources:"]
lines += [f'  - "arn:aws:logs:us-east-1:123456789012:log-group:/acme/g{i}"' for i in range(4000)]
open(f"{d}/task4000.yaml", "w").write("\n".join(lines) + "\n")
lines = lines[:4] + [f'  - "arn:aws:logs:us-east-1:123456789012:log-group:/acme/g{i}"' for i in range(256)]
open(f"{d}/task256.yaml", "w").write("\n".join(lines) + "\n")
EOF2

# 6. A small policy whose action wildcards expand to thousands of rows.
resources=$(printf '"arn:aws:ec2:*:*:instance/i-%d",' 0 1 2 3 4 5)
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","iam:*","s3:*"],"Resource":[%s]}]}\n' "${resources%,}" > "$work/wide.json"

run() {
    local name="$1"; shift
    local out="$work/out" err="$work/err" stats="$work/stats" status=0
    /usr/bin/time -f "%e %M" -o "$stats" "$@" > "$out" 2> "$err" || status=$?
    read -r seconds kilobytes < <(tail -n 1 "$stats")
    local first
    first="$(head -c 300 "$err" | head -n 1)"
    [[ -n "$first" ]] || first="$(head -c 120 "$out" | head -n 1)"
    printf '| %s | %s s | %d MB | %d | %s |\n' "$name" "$seconds" "$((kilobytes / 1024))" "$status" "${first:0:110}"
}

echo "| input | time | peak memory | exit | first line |"
echo "| --- | ---: | ---: | ---: | --- |"
run "diff: 120-byte policies, 16 \`?\` after \`*\`" "$clawc" diff "$work/old.json" "$work/new.json"
run "compile: two 60-\`?\` targets" "$clawc" compile --rules "$work/slow/rules" --task "$work/slow/task.yaml"
run "compile: 200 KB unknown service" "$clawc" compile --rules "$work/long/rules" --task "$work/long/task.yaml"
run "compile: estimatedDuration 2^63-1" "$clawc" compile --rules "$work/huge/rules" --task "$work/huge/task.yaml"
run "compile: 4,000 targets" "$clawc" compile --rules "$repo/rules" --task "$work/many/task4000.yaml"
run "compile: 256 targets (the most accepted)" "$clawc" compile --rules "$repo/rules" --task "$work/many/task256.yaml"
run "diff: \`ec2:*\`, \`iam:*\`, \`s3:*\` on six ARNs, with itself" "$clawc" diff "$work/wide.json" "$work/wide.json"
