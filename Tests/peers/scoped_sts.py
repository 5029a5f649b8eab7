#!/usr/bin/env python3
"""A local STS that answers `GetScopedCredentials` as AWS's service model says, for the clawc tests.

    python3 Tests/peers/scoped_sts.py [--botocore-dir DIR]

AWS added `GetScopedCredentials` to STS on 2026-11-19; moto does not implement it. The operation's model ships in
botocore 1.44.8, newer than the botocore pinned by boto3/moto (Tests/peers/requirements.txt). So this script loads
botocore 1.44.8 from its own directory DIR (default: `.build/botocore-1.44.8` under the repository root), installing
it there on first use with `python3 -m pip install --no-deps --target ...` (its runtime dependencies jmespath,
python-dateutil and urllib3 come with requirements.txt), and takes everything it can from that model: parameter
names, types and constraints, error codes and HTTP statuses, the response shape, the API version and XML namespace.
Requests are parsed and validated with the model and botocore's ParamValidator, signatures are recomputed with
botocore's SigV4Auth, and the response XML is written from the model's output shape.

It serves HTTP on 127.0.0.1 on a free port, prints exactly one line to stdout and flushes it:

    {"scoped_sts": "http://127.0.0.1:PORT"}

Nothing else ever goes to stdout; logs go to stderr (`PEERS_VERBOSE=1` adds one line per request). It exits when
its stdin reaches EOF, when its parent process goes away, and on SIGTERM/SIGINT (like peers.py).

    POST /                  the STS Query API: Action=GetScopedCredentials&Version=2011-06-15&... (SigV4-signed)
    POST /control/session   {"arn": ..., "expires_in": 3600, "long_term": false, "source_identity": null}
                            -> {"AccessKeyId": "ASIA...", "SecretAccessKey", "SessionToken", "Expiration"}
    GET  /control/calls     {"calls": [...]}: every request to the Query API, with its outcome
    POST /control/config    {"max_session_token_size": 4096, "web_identity_max_seconds": null}
    POST / AssumeRoleWithWebIdentity   unsigned; the token is required, not checked (as moto); the session it returns
                            is registered, so it can sign GetScopedCredentials (a broker's own web identity)
    POST /control/reset     forget every session and call; config back to defaults

Other modes:

    python3 Tests/peers/scoped_sts.py --describe     the model's documentation of the operation and its shapes
    python3 Tests/peers/scoped_sts.py --self-test    start a server and exercise it with a botocore 1.44.8 client

Choices the model leaves open (README.md in this folder lists them): the refusal on the global endpoint, the
error for a fourth scope-down layer, the maximum session token size, and the common (non-modeled) auth errors.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import fcntl
import hashlib
import hmac
import html
import importlib.metadata
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_lifetime import exit_when_stdin_closes, never_outlive_parent  # noqa: E402

HOST = "127.0.0.1"
BOTOCORE_VERSION = "1.44.8"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BOTOCORE_DIR = REPO_ROOT / ".build" / f"botocore-{BOTOCORE_VERSION}"
OPERATION = "GetScopedCredentials"
RUNTIME_DEPENDENCIES = ("jmespath", "python-dateutil", "urllib3")

# Not in the model; see README.md ("What the model leaves open").
MAX_SCOPE_DOWN_LAYERS = 3  # ScopedPoliciesCount's documentation: "A maximum of 3 scope down policy layers"
DEFAULT_MAX_SESSION_TOKEN_SIZE = 4096  # MinimumSessionTokenSize's documented maximum; the real limit is unpublished
CLOCK_SKEW = dt.timedelta(minutes=15)

log = logging.getLogger("scoped_sts")


# --------------------------------------------------------------------------------------------------------------
# botocore 1.44.8, from its own directory
# --------------------------------------------------------------------------------------------------------------


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def installed_botocore_version(directory: Path) -> str | None:
    init = directory / "botocore" / "__init__.py"
    try:
        match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", init.read_text("utf-8"), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def check_runtime_dependencies() -> None:
    missing = []
    for name in RUNTIME_DEPENDENCIES:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        sys.exit(
            f"scoped_sts: botocore {BOTOCORE_VERSION} needs {', '.join(missing)}; "
            "install Tests/peers/requirements.txt (boto3/moto bring them)"
        )


def ensure_botocore(directory: Path) -> Any:
    """Make DIR hold botocore >= 1.44.8 (installing 1.44.8 there if it holds none or an older one), put DIR first
    on sys.path, import botocore and check that its STS model has GetScopedCredentials."""
    check_runtime_dependencies()
    if "botocore" in sys.modules:
        raise RuntimeError("botocore was imported before its directory was put on sys.path")
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes starting at once install once
        found = installed_botocore_version(directory)
        if found is None or version_tuple(found) < version_tuple(BOTOCORE_VERSION):
            started = time.monotonic()
            log.warning("installing botocore %s into %s (found: %s)", BOTOCORE_VERSION, directory, found or "none")
            pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
            if found is None and not (directory.exists() and any(directory.iterdir())):
                # Install beside it and rename, so that a killed install never leaves a half-filled DIR.
                staging = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
                shutil.rmtree(staging, ignore_errors=True)
                try:
                    subprocess.run(
                        pip + ["--target", str(staging), f"botocore=={BOTOCORE_VERSION}"],
                        check=True, stdout=sys.stderr, stdin=subprocess.DEVNULL,
                    )
                    if directory.exists():
                        directory.rmdir()  # empty (checked above)
                    staging.rename(directory)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            else:
                subprocess.run(
                    pip + ["--upgrade", "--target", str(directory), f"botocore=={BOTOCORE_VERSION}"],
                    check=True, stdout=sys.stderr, stdin=subprocess.DEVNULL,
                )
            log.warning("installed botocore %s in %.1f s", BOTOCORE_VERSION, time.monotonic() - started)
    sys.path.insert(0, str(directory))
    import botocore  # noqa: PLC0415

    if not Path(botocore.__file__).resolve().is_relative_to(directory):
        raise RuntimeError(f"imported botocore from {botocore.__file__}, not from {directory}")
    if version_tuple(botocore.__version__) < version_tuple(BOTOCORE_VERSION):
        raise RuntimeError(f"botocore {botocore.__version__} in {directory}; need >= {BOTOCORE_VERSION}")
    return botocore


def load_sts_model(botocore: Any) -> Any:
    """The STS service model from botocore's own data (not ~/.aws/models or AWS_DATA_PATH)."""
    import botocore.loaders  # noqa: PLC0415
    import botocore.model  # noqa: PLC0415

    loader = botocore.loaders.Loader(
        extra_search_paths=[os.path.join(botocore.BOTOCORE_ROOT, "data")], include_default_search_paths=False
    )
    model = botocore.model.ServiceModel(loader.load_service_model("sts", "service-2"), "sts")
    if OPERATION not in model.operation_names:
        raise RuntimeError(f"botocore {botocore.__version__}: the sts model has no {OPERATION} operation")
    return model


# --------------------------------------------------------------------------------------------------------------
# --describe
# --------------------------------------------------------------------------------------------------------------


def html_to_text(markup: str, indent: str) -> str:
    if not markup:
        return ""
    text = re.sub(r"</?(p|note|ul|important)>", "\n", markup)
    text = re.sub(r"<li>", "\n- ", text)
    text = re.sub(r"<code>(.*?)</code>", r"`\1`", text)
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 <\1>", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    paragraphs = [" ".join(part.split()) for part in text.split("\n")]
    return "\n".join(
        textwrap.fill(part, 112, initial_indent=indent,
                      subsequent_indent=indent + ("  " if part.startswith("-") else ""))
        for part in paragraphs
        if part
    )


def describe(model: Any, botocore: Any) -> None:
    out = sys.stderr
    op = model.operation_model(OPERATION)
    raw_op = model._service_description["operations"][OPERATION]  # noqa: SLF001
    md = model.metadata
    print(f"botocore {botocore.__version__} from {Path(botocore.__file__).parent}", file=out)
    print(
        f"service {md.get('serviceId')} ({md.get('serviceFullName')}): apiVersion {model.api_version}, protocol "
        f"{md.get('protocol')} {md.get('protocols')}, signatureVersion {md.get('signatureVersion')}, auth "
        f"{md.get('auth')}, globalEndpoint {md.get('globalEndpoint')}, xmlNamespace {md.get('xmlNamespace')}",
        file=out,
    )
    print(f"\noperation {OPERATION}: http {dict(op.http)}, output resultWrapper "
          f"{op.output_shape.serialization.get('resultWrapper')}", file=out)
    print(f"  keys in the operation's model: {sorted(raw_op)}", file=out)
    print(f"  operation-level auth: {raw_op.get('auth')}, authtype: {raw_op.get('authtype')} "
          f"(None: the service's {md.get('auth')} apply); staticContextParams {op.static_context_parameters}, "
          f"contextParams {op.context_parameters}, endpointdiscovery {op.endpoint_discovery}", file=out)
    print(html_to_text(op.documentation, "  "), file=out)

    def shape_line(shape: Any) -> str:
        facts = [shape.type_name]
        for key in ("min", "max", "pattern", "sensitive", "timestampFormat", "enum"):
            if key in shape.metadata:
                value = shape.metadata[key]
                facts.append(f"{key} {value}" if key == "pattern" else f"{key} {value!r}")
        return ", ".join(facts)

    seen: set[str] = set()

    def walk(shape: Any, indent: str) -> None:
        if shape.type_name != "structure":
            return
        required = set(shape.required_members)
        for name, member in shape.members.items():
            req = "required" if name in required else "optional"
            print(f"{indent}{name} ({req}) -> shape {member.name}: {shape_line(member)}", file=out)
            if member.documentation:
                print(html_to_text(member.documentation, indent + "    "), file=out)
            if member.type_name == "structure" and member.name not in seen:
                seen.add(member.name)
                walk(member, indent + "    ")

    for title, shape in (("input", op.input_shape), ("output", op.output_shape)):
        print(f"\n{title} shape {shape.name}:", file=out)
        if shape.documentation:
            print(html_to_text(shape.documentation, "  "), file=out)
        walk(shape, "  ")
    print("\nerrors:", file=out)
    for shape in op.error_shapes:
        error = shape.metadata.get("error", {})
        print(f"  {shape.name}: code {error.get('code')}, HTTP {error.get('httpStatusCode')}, "
              f"senderFault {error.get('senderFault')}, members {list(shape.members)}", file=out)
        print(html_to_text(shape.documentation, "      "), file=out)
    try:
        import botocore.loaders  # noqa: PLC0415

        loader = botocore.loaders.Loader(
            extra_search_paths=[os.path.join(botocore.BOTOCORE_ROOT, "data")], include_default_search_paths=False
        )
        rules = loader.load_service_model("sts", "endpoint-rule-set-1")
        print("\nendpoint rule set parameters:", file=out)
        for name, param in rules.get("parameters", {}).items():
            print(f"  {name}: {param.get('type')}, builtIn {param.get('builtIn')}, default {param.get('default')}: "
                  f"{param.get('documentation')}", file=out)
        mentions = OPERATION in json.dumps(rules)
        print(f"  the rule set {'mentions' if mentions else 'does not mention'} {OPERATION}", file=out)
    except Exception as error:  # noqa: BLE001
        print(f"\n(no endpoint rule set: {error})", file=out)


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Session:
    access_key_id: str
    secret: str
    token: str | None  # None: a long-term (AKIA) key
    expiration: int | None  # epoch seconds; None for a long-term key
    arn: str
    layers: int = 0  # GetScopedCredentials scope-down policies on this session (ScopedPoliciesCount)
    source_identity: str | None = None
    policies: list[str] = dataclasses.field(default_factory=list)
    scoped_session_id: str | None = None
    parent: str | None = None
    description: str | None = None

    @property
    def long_term(self) -> bool:
        return self.token is None


def new_key_id(prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")  # 40 characters, with + and /


def pack_token(arn: str, policies: list[str], minimum_size: int) -> str:
    """An opaque session token whose size grows with the packed (compressed) scope-down policies, like STS's;
    padded to at least `minimum_size` characters (MinimumSessionTokenSize)."""
    packed = zlib.compress(json.dumps({"arn": arn, "policies": policies}, separators=(",", ":")).encode(), 9)
    raw = b"\x01" + secrets.token_bytes(24) + packed
    wanted = 3 * math.ceil(minimum_size / 4)  # raw bytes whose base64 is >= minimum_size characters
    if len(raw) < wanted:
        raw += secrets.token_bytes(wanted - len(raw))
    return base64.b64encode(raw).decode("ascii")


def iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.calls: list[dict[str, Any]] = []
        self.max_token_size = DEFAULT_MAX_SESSION_TOKEN_SIZE
        self.web_identity_max_seconds: int | None = None  # caps AssumeRoleWithWebIdentity's DurationSeconds

    def register(self, arn: str, expires_in: float, long_term: bool, source_identity: str | None) -> dict[str, Any]:
        if long_term:
            session = Session(new_key_id("AKIA"), new_secret(), None, None, arn, source_identity=source_identity)
        else:
            session = Session(
                new_key_id("ASIA"), new_secret(), pack_token(arn, [], 0), int(time.time() + expires_in), arn,
                source_identity=source_identity,
            )
        with self.lock:
            self.sessions[session.access_key_id] = session
        answer: dict[str, Any] = {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret}
        if not long_term:
            answer["SessionToken"] = session.token
            answer["Expiration"] = iso(session.expiration)
        return answer

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.calls.clear()
            self.max_token_size = DEFAULT_MAX_SESSION_TOKEN_SIZE
            self.web_identity_max_seconds = None


# --------------------------------------------------------------------------------------------------------------
# The operation
# --------------------------------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "Sender") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind


INTEGER = re.compile(r"-?[0-9]+")
AUTH_HEADER = re.compile(r"^(\S+)\s+(.*)$", re.DOTALL)
XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    value = XML_INVALID.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class ScopedSts:
    """GetScopedCredentials, driven by the operation's model."""

    def __init__(self, botocore: Any, model: Any, registry: Registry) -> None:
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
        from botocore.compat import HTTPHeaders  # noqa: PLC0415
        from botocore.credentials import Credentials  # noqa: PLC0415
        from botocore.validate import ParamValidator  # noqa: PLC0415

        self.AWSRequest, self.Credentials, self.HTTPHeaders = AWSRequest, Credentials, HTTPHeaders
        self.ParamValidator = ParamValidator
        self.botocore = botocore
        self.model = model
        self.registry = registry
        self.op = model.operation_model(OPERATION)
        self.input_shape = self.op.input_shape
        self.output_shape = self.op.output_shape
        self.api_version = model.api_version
        self.namespace = model.metadata["xmlNamespace"]
        self.global_host = model.metadata.get("globalEndpoint", "sts.amazonaws.com").lower()
        self.signing_name = model.signing_name
        # Modeled errors by shape name: (HTTP status, code).
        self.errors = {
            shape.name: (shape.metadata["error"].get("httpStatusCode", 400), shape.metadata["error"]["code"])
            for shape in self.op.error_shapes
        }
        self.patterns = {
            name: re.compile(member.metadata["pattern"], re.ASCII)  # Java's \w, \d, \s are ASCII
            for name, member in self.input_shape.members.items()
            if "pattern" in member.metadata
        }

        class VerifyingSigV4(SigV4Auth):
            """SigV4Auth, with the canonical headers taken from exactly the headers the client signed (botocore
            itself never signs some, such as user-agent, but a client may)."""

            def __init__(self, credentials: Any, service: str, region: str, signed: list[str]) -> None:
                super().__init__(credentials, service, region)
                self.signed = signed

            def headers_to_sign(self, request: Any) -> Any:
                headers = HTTPHeaders()
                for name in self.signed:
                    for value in request.headers.get_all(name) or []:
                        headers[name] = value
                return headers

        self.VerifyingSigV4 = VerifyingSigV4

    def modeled(self, shape_name: str, message: str) -> ApiError:
        status, code = self.errors[shape_name]
        return ApiError(status, code, message)

    # ---- request parsing and validation, from the input shape

    def parse(self, form: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, member in self.input_shape.members.items():
            wire = member.serialization.get("name", name)
            if wire not in form:
                continue
            raw = form[wire]
            if member.type_name in ("integer", "long"):
                params[name] = int(raw) if INTEGER.fullmatch(raw) else raw  # a str is reported as invalid type
            elif member.type_name == "boolean":
                params[name] = {"true": True, "false": False}.get(raw, raw)
            else:
                params[name] = raw
        return params

    def validate(self, params: dict[str, Any]) -> None:
        problems: dict[str, list[str]] = {name: [] for name in self.input_shape.members}
        report = self.ParamValidator().validate(params, self.input_shape)
        for reason, where, extra in getattr(report, "_errors", []):
            member = where.lstrip(".").split(".")[0] or "input"
            shape = self.input_shape.members.get(member)
            if reason == "invalid length":
                text = f"Member must have length greater than or equal to {extra['min_allowed']}"
            elif reason == "invalid range":
                text = f"Member must have value greater than or equal to {extra['min_allowed']}"
            elif reason == "invalid type":
                text = f"Member must be of type {shape.type_name if shape else 'unknown'}"
            elif reason == "missing required field":
                member = extra.get("required_name", member)
                text = "Member must not be null"
            else:
                text = f"Member is invalid ({reason})"
            problems.setdefault(member, []).append(text)
        # What ParamValidator leaves to the service: maximums and patterns.
        for name, member in self.input_shape.members.items():
            value = params.get(name)
            if value is None:
                continue
            limit = member.metadata.get("max")
            if isinstance(value, str) and member.type_name == "string":
                if limit is not None and len(value) > limit:
                    problems[name].append(f"Member must have length less than or equal to {limit}")
                if name in self.patterns and not self.patterns[name].fullmatch(value):
                    problems[name].append(
                        f"Member must satisfy regular expression pattern: {member.metadata['pattern']}"
                    )
            elif isinstance(value, int) and member.type_name in ("integer", "long"):
                if limit is not None and value > limit:
                    problems[name].append(f"Member must have value less than or equal to {limit}")
        lines = []
        for name, texts in problems.items():
            shown = "null" if params.get(name) is None else f"'{params[name]}'"
            lines += [f"Value {shown} at '{lower_camel(name)}' failed to satisfy constraint: {text}" for text in texts]
        if lines:
            plural = "s" if len(lines) > 1 else ""
            summary = f"{len(lines)} validation error{plural} detected: "
            raise ApiError(400, "ValidationError", summary + "; ".join(lines))

    @staticmethod
    def check_policy(text: str) -> None:
        """IAM's basic grammar for a session policy. Raises ValueError with IAM-style messages."""
        try:
            document = json.loads(text)
        except ValueError:
            raise ValueError("Syntax errors in policy.") from None
        if not isinstance(document, dict):
            raise ValueError("Syntax errors in policy.")
        if "Version" in document and document["Version"] not in ("2012-10-17", "2008-10-17"):
            raise ValueError("The policy must contain a valid version string.")
        if "Statement" not in document:
            raise ValueError("Policy document must contain a Statement element.")
        statements = document["Statement"]
        statements = [statements] if isinstance(statements, dict) else statements
        if not isinstance(statements, list) or not statements:
            raise ValueError("Syntax errors in policy.")
        for statement in statements:
            if not isinstance(statement, dict):
                raise ValueError("Syntax errors in policy.")
            if "Principal" in statement or "NotPrincipal" in statement:
                raise ValueError("Policy document should not specify a principal.")
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise ValueError("Policy statement must contain a valid Effect (Allow or Deny).")
            if ("Action" in statement) == ("NotAction" in statement):
                raise ValueError("Policy statement must contain actions.")
            if ("Resource" in statement) == ("NotResource" in statement):
                raise ValueError("Policy statement must contain resources.")

    # ---- SigV4

    def authenticate(self, method: str, path: str, headers: Any, body: bytes) -> Session:
        authorization = headers.get("Authorization")
        if not authorization:
            raise ApiError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        match = AUTH_HEADER.match(authorization.strip())
        if not match or match.group(1) != "AWS4-HMAC-SHA256":
            algorithm = match.group(1) if match else authorization[:32]
            raise ApiError(403, "IncompleteSignature",
                           f"Unsupported AWS 'algorithm': '{algorithm}' (this test STS verifies AWS4-HMAC-SHA256 only)")
        fields: dict[str, str] = {}
        for part in match.group(2).split(","):
            key, sep, value = part.strip().partition("=")
            if sep:
                fields[key] = value
        missing = [key for key in ("Credential", "SignedHeaders", "Signature") if key not in fields]
        if missing:
            raise ApiError(403, "IncompleteSignature",
                           f"Authorization header requires {', '.join(repr(k) for k in missing)} parameter(s). "
                           f"Authorization={authorization}")
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise ApiError(403, "IncompleteSignature",
                           f"Credential should be scoped to a valid region, not '{fields['Credential']}'.")
        access_key, day, region, service, _ = scope
        amz_date = headers.get("X-Amz-Date")
        if not amz_date:
            raise ApiError(403, "IncompleteSignature",
                           "Authorization header requires existence of an 'X-Amz-Date' header.")
        try:
            when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise ApiError(403, "IncompleteSignature", f"Invalid X-Amz-Date '{amz_date}'.") from None
        if day != amz_date[:8]:
            raise ApiError(403, "SignatureDoesNotMatch",
                           f"Credential should be scoped to a valid date, '{day}' is not the date of '{amz_date}'.")
        if service != self.signing_name:
            raise ApiError(403, "SignatureDoesNotMatch",
                           f"Credential should be scoped to correct service: '{self.signing_name}'. ")
        signed = [name.strip().lower() for name in fields["SignedHeaders"].split(";") if name.strip()]
        if "host" not in signed:
            raise ApiError(403, "IncompleteSignature", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        now = dt.datetime.now(dt.timezone.utc)
        if abs(now - when) > CLOCK_SKEW:
            stamp = lambda t: t.strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
            raise ApiError(403, "SignatureDoesNotMatch",
                           f"Signature expired: {amz_date} is now earlier than {stamp(now - CLOCK_SKEW)} "
                           f"({stamp(now)} - 15 min.)" if when < now else
                           f"Signature not yet current: {amz_date} is still later than {stamp(now + CLOCK_SKEW)} "
                           f"({stamp(now)} + 15 min.)")

        with self.registry.lock:
            caller = self.registry.sessions.get(access_key)
            caller = dataclasses.replace(caller) if caller else None
        if caller is None:
            raise ApiError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        token = headers.get("X-Amz-Security-Token")
        if caller.long_term:
            if token:
                raise ApiError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        else:
            if not token or not hmac.compare_digest(token.encode(), caller.token.encode()):
                raise ApiError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
            if time.time() >= caller.expiration:
                raise ApiError(403, "ExpiredToken", "The security token included in the request is expired")

        content_sha = headers.get("X-Amz-Content-SHA256")
        if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
            raise ApiError(403, "SignatureDoesNotMatch",
                           "The provided 'x-amz-content-sha256' header does not match what was computed.")
        request = self.AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{path}", data=body)
        request.headers = self.HTTPHeaders()
        for name in signed:
            for value in headers.get_all(name) or []:
                request.headers[name] = value
        request.context["timestamp"] = amz_date
        signer = self.VerifyingSigV4(self.Credentials(access_key, caller.secret, caller.token), service, region, signed)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, fields["Signature"]):
            log.info("signature mismatch; canonical request:\n%s", canonical)
            raise ApiError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. Check "
                           "your AWS Secret Access Key and signing method. Consult the service documentation for "
                           "details.")
        return caller

    # ---- the operation

    def get_scoped_credentials(self, caller: Session, params: dict[str, Any]) -> tuple[dict[str, Any], Session]:
        if caller.long_term:
            raise self.modeled(
                "InvalidSubjectCredentialsException",
                f"{OPERATION} must be called with temporary security credentials; {caller.access_key_id} is a "
                "long-term access key (IAM user or root). Call GetSessionToken first.",
            )
        self.validate(params)
        policy = params.get("Policy")
        duration = params.get("DurationSeconds")
        if policy is None and duration is None:
            raise ApiError(400, "ValidationError",
                           "A request must provide at least one of Policy or DurationSeconds.")
        if policy is not None:
            try:
                self.check_policy(policy)
            except ValueError as error:
                raise self.modeled("MalformedPolicyDocumentException", str(error)) from None
            if caller.layers >= MAX_SCOPE_DOWN_LAYERS:
                raise ApiError(
                    400, "ValidationError",
                    f"The calling session already has {caller.layers} {OPERATION} scope-down policies; at most "
                    f"{MAX_SCOPE_DOWN_LAYERS} layers are allowed per session, so another Policy cannot be added.",
                )
        now = time.time()
        remaining = caller.expiration - now
        if duration is not None and duration > remaining:
            raise self.modeled(
                "InsufficientSessionLifetimeException",
                f"The requested DurationSeconds ({duration}) exceeds the remaining lifetime of the calling session "
                f"({max(0, int(remaining))} seconds).",
            )
        expiration = int(now) + duration if duration is not None else caller.expiration
        policies = caller.policies + ([policy] if policy is not None else [])
        token = pack_token(caller.arn, policies, params.get("MinimumSessionTokenSize") or 0)
        with self.registry.lock:
            maximum = self.registry.max_token_size
        if len(token) > maximum:
            raise self.modeled(
                "PackedPolicyTooLargeException",
                f"The session token would be {len(token)} bytes, which exceeds the maximum allowed size of "
                f"{maximum} bytes.",
            )
        scoped = Session(
            new_key_id("ASIA"), new_secret(), token, expiration, caller.arn, len(policies),
            caller.source_identity, policies, "scoped-" + secrets.token_hex(10), caller.access_key_id,
            params.get("ScopedSessionDescription"),
        )
        with self.registry.lock:
            self.registry.sessions[scoped.access_key_id] = scoped
        result: dict[str, Any] = {
            "Credentials": {
                "AccessKeyId": scoped.access_key_id,
                "SecretAccessKey": scoped.secret,
                "SessionToken": scoped.token,
                "Expiration": scoped.expiration,
            },
            "SessionInfo": {"ScopedSessionId": scoped.scoped_session_id, "Arn": scoped.arn},
            "SessionTokenUtilization": min(100, len(token) * 100 // maximum),
            "SessionTokenSize": len(token),
            "ScopedPoliciesCount": scoped.layers,
            "SourceIdentity": scoped.source_identity,
        }
        return result, scoped

    # ---- XML, from the output shape

    def serialize(self, shape: Any, value: Any) -> str:
        kind = shape.type_name
        if kind == "structure":
            parts = []
            for name, member in shape.members.items():
                if value.get(name) is None:
                    continue
                tag = member.serialization.get("name", name)
                parts.append(f"<{tag}>{self.serialize(member, value[name])}</{tag}>")
            unknown = set(value) - set(shape.members)
            if unknown:
                raise RuntimeError(f"{shape.name} has no members {sorted(unknown)}")
            return "".join(parts)
        if kind == "list":
            tag = shape.member.serialization.get("name", "member")
            return "".join(f"<{tag}>{self.serialize(shape.member, item)}</{tag}>" for item in value)
        if kind == "timestamp":
            return iso(value)
        if kind == "boolean":
            return "true" if value else "false"
        if kind in ("integer", "long"):
            return str(int(value))
        return xml_text(str(value))

    def success_xml(self, result: dict[str, Any], request_id: str) -> bytes:
        wrapper = self.output_shape.serialization.get("resultWrapper", f"{OPERATION}Result")
        return (
            f'<{OPERATION}Response xmlns="{self.namespace}"><{wrapper}>{self.serialize(self.output_shape, result)}'
            f"</{wrapper}><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{OPERATION}Response>"
        ).encode("utf-8")

    def error_xml(self, error: ApiError, request_id: str) -> bytes:
        return (
            f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{error.kind}</Type><Code>{error.code}</Code>'
            f"<Message>{xml_text(error.message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode("utf-8")

    # ---- one Query API request

    def web_identity(self, form: dict[str, str], request_id: str, record: dict[str, Any]) -> tuple[int, bytes, str, dict]:
        """AssumeRoleWithWebIdentity, as moto does it: the token is not checked, only required. Here so that a broker's
        own role session (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) can come from the same STS that serves
        GetScopedCredentials: the session it returns is registered and can sign GetScopedCredentials calls."""
        role, name, token = form.get("RoleArn", ""), form.get("RoleSessionName", ""), form.get("WebIdentityToken", "")
        match = re.fullmatch(r"arn:aws:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", role)
        if not match or not re.fullmatch(r"[\w+=,.@-]{2,64}", name) or not token:
            raise ApiError(400, "ValidationError", "RoleArn, RoleSessionName and WebIdentityToken are required and well formed")
        try:
            duration = int(form.get("DurationSeconds", "3600"))
        except ValueError:
            raise ApiError(400, "ValidationError", "DurationSeconds is not a number") from None
        if self.registry.web_identity_max_seconds is not None:
            duration = min(duration, self.registry.web_identity_max_seconds)
        arn = f"arn:aws:sts::{match.group(1)}:assumed-role/{match.group(2)}/{name}"
        made = self.registry.register(arn, duration, False, None)
        record.update(status=200, params={"RoleArn": role, "RoleSessionName": name, "DurationSeconds": duration,
                                          "token_sha256": hashlib.sha256(token.encode()).hexdigest()[:16]},
                      result={"AccessKeyId": made["AccessKeyId"], "Expiration": made["Expiration"]})
        body = (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{self.namespace}"><AssumeRoleWithWebIdentityResult><Credentials>'
            f'<AccessKeyId>{made["AccessKeyId"]}</AccessKeyId><SecretAccessKey>{xml_text(made["SecretAccessKey"])}</SecretAccessKey>'
            f'<SessionToken>{xml_text(made["SessionToken"])}</SessionToken><Expiration>{made["Expiration"]}</Expiration></Credentials>'
            f'<AssumedRoleUser><AssumedRoleId>AROA{secrets.token_hex(8).upper()}:{xml_text(name)}</AssumedRoleId><Arn>{xml_text(arn)}</Arn>'
            f'</AssumedRoleUser><SubjectFromWebIdentityToken>web-identity</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult>'
            f'<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>'
        ).encode("utf-8")
        return 200, body, request_id, record

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, bytes, str, dict]:
        request_id = str(uuid.uuid4())
        path, _, query = target.partition("?")
        record: dict[str, Any] = {
            "request_id": request_id, "action": None, "params": {}, "caller": None,
            "host": headers.get("Host"), "status": None, "error": None, "message": None, "result": None,
        }
        try:
            try:
                form_text = query + ("&" if query and body else "") + body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "MalformedQueryString", "The request body is not UTF-8.") from None
            pairs = urllib.parse.parse_qsl(form_text, keep_blank_values=True)
            form = dict(pairs)  # a repeated parameter: the last one wins
            record["action"] = form.get("Action")
            if form.get("Action") == "AssumeRoleWithWebIdentity":
                return self.web_identity(form, request_id, record)
            params = self.parse(form)
            record["params"] = params
            extra = {k: v for k, v in form.items() if k not in ("Action", "Version")
                     and k not in {m.serialization.get("name", n) for n, m in self.input_shape.members.items()}}
            if extra:
                record["ignored_params"] = extra
            if form.get("Action") != OPERATION or form.get("Version") != self.api_version:
                raise ApiError(400, "InvalidAction",
                               f"Could not find operation {form.get('Action', '')} for version "
                               f"{form.get('Version', '')} (this test STS implements only {OPERATION}, version "
                               f"{self.api_version})")
            host = (headers.get("Host") or "").rsplit(":", 1)[0].strip().lower().rstrip(".")
            if host == self.global_host:
                raise ApiError(400, "InvalidAction",
                               f"{OPERATION} is not available on the STS global endpoint ({self.global_host}); "
                               "call a regional endpoint such as sts.us-east-1.amazonaws.com")
            caller = self.authenticate(method, target, headers, body)
            record["caller"] = caller.access_key_id
            result, scoped = self.get_scoped_credentials(caller, params)
            record["status"] = 200
            record["result"] = {
                "AccessKeyId": scoped.access_key_id, "Expiration": iso(scoped.expiration),
                "ScopedPoliciesCount": scoped.layers, "SessionTokenSize": len(scoped.token),
                "ScopedSessionId": scoped.scoped_session_id,
            }
            return 200, self.success_xml(result, request_id), request_id, record
        except ApiError as error:
            record.update(status=error.status, error=error.code, message=error.message)
            return error.status, self.error_xml(error, request_id), request_id, record


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


def make_handler(sts: ScopedSts, registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "clawc-scoped-sts"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if os.environ.get("PEERS_VERBOSE"):
                sys.stderr.write("scoped_sts: " + (format % args) + "\n")

        def send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status: int, value: Any) -> None:
            self.send(status, json.dumps(value).encode("utf-8"), "application/json", {"Cache-Control": "no-store"})

        def body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def api(self, body: bytes) -> None:
            status, payload, request_id, record = sts.handle(self.command, self.path, self.headers, body)
            record["client_port"] = self.client_address[1]  # the same port twice: a kept-alive connection was reused
            with registry.lock:
                registry.calls.append(record)
            if os.environ.get("PEERS_VERBOSE"):
                log.warning("%s %s -> %s %s", record["action"], record["caller"], status, record["error"] or "")
            self.send(status, payload, "text/xml", {"x-amzn-RequestId": request_id})

        def control(self, path: str, body: bytes) -> None:
            try:
                data = json.loads(body) if body.strip() else {}
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                if path == "/control/session":
                    arn = data.get("arn")
                    if not isinstance(arn, str) or not arn:
                        raise ValueError("arn must be a non-empty string")
                    expires_in = data.get("expires_in", 3600)
                    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
                        raise ValueError("expires_in must be a number of seconds")
                    source_identity = data.get("source_identity")
                    if source_identity is not None and not isinstance(source_identity, str):
                        raise ValueError("source_identity must be a string")
                    self.send_json(200, registry.register(arn, expires_in, bool(data.get("long_term")),
                                                          source_identity))
                elif path == "/control/config":
                    # Only the settings named change: suites running at once each set their own.
                    size = data.get("max_session_token_size", registry.max_token_size)
                    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                        raise ValueError("max_session_token_size must be a positive integer")
                    cap = data.get("web_identity_max_seconds", registry.web_identity_max_seconds)
                    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
                        raise ValueError("web_identity_max_seconds must be a positive integer or null")
                    with registry.lock:
                        registry.max_token_size = size
                        registry.web_identity_max_seconds = cap
                    self.send_json(200, {"max_session_token_size": size, "web_identity_max_seconds": cap})
                elif path == "/control/reset":
                    registry.reset()
                    self.send_json(200, {})
                else:
                    self.send_json(404, {"error": "not_found", "path": path})
            except (ValueError, TypeError) as error:
                self.send_json(400, {"error": str(error)})

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            body = self.body()
            if path.startswith("/control/"):
                self.control(path, body)
            elif path == "/":
                self.api(body)
            else:
                self.send_json(404, {"error": "not_found", "path": path})

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            body = self.body()
            if path == "/control/calls":
                with registry.lock:
                    calls = [dict(call) for call in registry.calls]
                self.send_json(200, {"calls": calls})
            elif path == "/":
                self.api(body)  # the Query API also accepts GET with the parameters in the query string
            else:
                self.send_json(404, {"error": "not_found", "path": path})

    return Handler


def serve(botocore_dir: Path) -> None:
    never_outlive_parent()
    started = time.monotonic()
    botocore = ensure_botocore(botocore_dir)
    model = load_sts_model(botocore)
    registry = Registry()
    sts = ScopedSts(botocore, model, registry)
    server = ThreadingHTTPServer((HOST, 0), make_handler(sts, registry))
    server.daemon_threads = True
    url = f"http://{HOST}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    sys.stdout.write(json.dumps({"scoped_sts": url}) + "\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # nothing else may reach stdout
    sys.stdout = sys.stderr
    log.info("scoped_sts %s: botocore %s from %s, ready in %.2f s", url, botocore.__version__,
             Path(botocore.__file__).parent, time.monotonic() - started)
    exit_when_stdin_closes()
    forever = threading.Event()
    while True:
        forever.wait(3600)


# --------------------------------------------------------------------------------------------------------------
# --self-test
# --------------------------------------------------------------------------------------------------------------


def self_test(botocore_dir: Path) -> int:  # noqa: C901, PLR0915
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
                 "AWS_STS_REGIONAL_ENDPOINTS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    botocore = ensure_botocore(botocore_dir)
    import http.client  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    import botocore.session  # noqa: PLC0415
    from botocore import UNSIGNED  # noqa: PLC0415
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.credentials import Credentials  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from botocore.parsers import QueryParser  # noqa: PLC0415

    results: list[tuple[bool, str, str]] = []

    def check(name: str, ok: bool, detail: Any = "") -> bool:
        results.append((bool(ok), name, str(detail)))
        print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok or detail == '' else ': ' + str(detail)}", flush=True)
        return bool(ok)

    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--botocore-dir", str(botocore_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    line = child.stdout.readline()
    startup = time.monotonic() - started
    url = json.loads(line)["scoped_sts"]
    check("server prints one JSON line", url.startswith("http://127.0.0.1:"), line)
    print(f"     startup (spawn to line, botocore already installed): {startup:.2f} s", flush=True)
    port = int(url.rsplit(":", 1)[1])

    session = botocore.session.get_session()
    model = session.get_service_model("sts")
    op_model = model.operation_model(OPERATION)
    check(f"client model has {OPERATION}", OPERATION in model.operation_names)

    def control(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def client(creds: dict[str, Any], **config: Any) -> Any:
        return session.create_client(
            "sts", region_name="us-east-1", endpoint_url=url,
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
            config=Config(retries={"max_attempts": 1}, **config),
        )

    def expect_error(name: str, call: Any, code: str, status: int, exception: str | None = None,
                     contains: str | None = None) -> dict[str, Any] | None:
        try:
            call()
        except ClientError as error:
            got_code = error.response["Error"]["Code"]
            got_status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            message = error.response["Error"].get("Message", "")
            ok = got_code == code and got_status == status
            if exception:
                ok = ok and type(error).__name__ == exception
            if contains:
                ok = ok and contains in message
            check(name, ok, f"{got_status} {got_code} ({type(error).__name__}): {message}")
            return error.response
        except Exception as error:  # noqa: BLE001
            check(name, False, f"{type(error).__name__}: {error}")
            return None
        check(name, False, "no error")
        return None

    class SignEverySigV4(SigV4Auth):
        """Signs every header it is given, user-agent included, as clawc's SigV4.swift does."""

        def headers_to_sign(self, request: Any) -> Any:
            headers = super().headers_to_sign(request)
            for name, value in request.headers.items():
                if name.lower() not in headers and name.lower() != "authorization":
                    headers[name.lower()] = value
            return headers

    def raw(creds: dict[str, Any] | None, form: dict[str, str] | str, *, target_url: str | None = None,
            service: str = "sts", tamper: Any = None, extra_headers: dict[str, str] | None = None,
            signer: Any = SigV4Auth) -> tuple[int, bytes]:
        body = form if isinstance(form, str) else urllib.parse.urlencode(form, quote_via=urllib.parse.quote)
        request = AWSRequest(method="POST", url=target_url or url + "/", data=body.encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                      **(extra_headers or {})})
        if creds is not None:
            signer(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken")),
                   service, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
        headers["Host"] = urllib.parse.urlsplit(request.url).netloc
        payload = request.body
        if tamper:
            payload = tamper(payload)
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        connection.request("POST", "/", body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data

    def policy(sid: str, *resources: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": list(resources) or ["arn:aws:s3:::acme-logs-123/*"]}]}, separators=(",", ":"),
            ensure_ascii=False)

    arn = "arn:aws:sts::123456789012:assumed-role/orchestrator/orch-1"
    orch = control("POST", "/control/session", {"arn": arn, "expires_in": 3600, "source_identity": "alice"})
    check("control: session is ASIA with token", orch["AccessKeyId"].startswith("ASIA") and orch["SessionToken"]
          and orch["Expiration"].endswith("Z"), orch["AccessKeyId"])

    # ---- the raw success response, checked against botocore's QueryParser
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "Policy": policy("Raw"),
                              "DurationSeconds": "900", "ScopedSessionDescription": "raw request"})
    check("raw signed request: 200", status == 200, body[:300])
    print("     success XML: " + body.decode(), flush=True)
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": 200}, op_model.output_shape)
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    ns = {"s": model.metadata["xmlNamespace"]}
    root = ET.fromstring(body)
    result_node = root.find(f"s:{OPERATION}Result", ns)
    text = lambda path: result_node.find(path, ns).text  # noqa: E731
    token = text("s:Credentials/s:SessionToken")
    expected = {
        "Credentials": {
            "AccessKeyId": text("s:Credentials/s:AccessKeyId"),
            "SecretAccessKey": text("s:Credentials/s:SecretAccessKey"),
            "SessionToken": token,
            "Expiration": dt.datetime.strptime(text("s:Credentials/s:Expiration"), "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=dt.timezone.utc),  # aware datetimes compare as instants (botocore gives tzlocal)
        },
        "SessionInfo": {"ScopedSessionId": text("s:SessionInfo/s:ScopedSessionId"), "Arn": arn},
        "SessionTokenUtilization": len(token) * 100 // DEFAULT_MAX_SESSION_TOKEN_SIZE,
        "SessionTokenSize": len(token),
        "ScopedPoliciesCount": 1,
        "SourceIdentity": "alice",
        # QueryParser adds the status and headers it was given to ResponseMetadata.
        "ResponseMetadata": {"RequestId": root.find("s:ResponseMetadata/s:RequestId", ns).text,
                             "HTTPStatusCode": 200, "HTTPHeaders": {}},
    }
    check("QueryParser parses the success XML to the expected dict", parsed == expected,
          f"\n  parsed   {parsed}\n  expected {expected}")
    order = [child_node.tag.split("}")[1] for child_node in result_node]
    model_order = [name for name in op_model.output_shape.members if name in order]
    check("result members are in model order", order == model_order == list(op_model.output_shape.members), order)
    lifetime = parsed["Credentials"]["Expiration"].timestamp() - time.time()
    check("raw: Expiration = now + 900 s, no fractions", 897 <= lifetime <= 900 and "." not in
          text("s:Credentials/s:Expiration"), lifetime)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15"})
    error_parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": status}, op_model.output_shape)
    check("QueryParser parses the error XML", status == 400 and error_parsed["Error"]["Code"] == "ValidationError"
          and error_parsed["Error"]["Type"] == "Sender" and "RequestId" in error_parsed["ResponseMetadata"],
          error_parsed)
    print("     error XML: " + body.decode(), flush=True)

    # ---- a 3-level chain through botocore clients: orchestrator -> agent -> sub-agent -> level 3 -> 4th refused
    orch_client = client(orch)
    agent = orch_client.get_scoped_credentials(Policy=policy("Agent"), DurationSeconds=1800,
                                               ScopedSessionDescription="agent for t-42")
    creds = agent["Credentials"]
    check("agent: ASIA key, same Arn, ScopedPoliciesCount 1, SourceIdentity carried",
          creds["AccessKeyId"].startswith("ASIA") and agent["SessionInfo"]["Arn"] == arn
          and agent["ScopedPoliciesCount"] == 1 and agent["SourceIdentity"] == "alice", agent["SessionInfo"])
    check("agent: SessionTokenSize = len(token), utilization = size*100/4096",
          agent["SessionTokenSize"] == len(creds["SessionToken"])
          and agent["SessionTokenUtilization"] == len(creds["SessionToken"]) * 100 // 4096,
          (agent["SessionTokenSize"], agent["SessionTokenUtilization"]))
    agent_client = client(creds)
    sub = agent_client.get_scoped_credentials(Policy=policy("SubAgent"), MinimumSessionTokenSize=2000)
    check("sub-agent: ScopedPoliciesCount 2, token >= MinimumSessionTokenSize 2000",
          sub["ScopedPoliciesCount"] == 2 and 2000 <= len(sub["Credentials"]["SessionToken"]) <= 2003
          and sub["SessionTokenSize"] == len(sub["Credentials"]["SessionToken"]),
          (sub["ScopedPoliciesCount"], sub["SessionTokenSize"], sub["SessionTokenUtilization"]))
    check("sub-agent: no DurationSeconds inherits the caller's expiration",
          sub["Credentials"]["Expiration"] == creds["Expiration"], (sub["Credentials"]["Expiration"],
                                                                     creds["Expiration"]))
    sub_client = client(sub["Credentials"])
    third = sub_client.get_scoped_credentials(Policy=policy("Third"), DurationSeconds=600)
    check("level 3: ScopedPoliciesCount 3", third["ScopedPoliciesCount"] == 3, third["ScopedPoliciesCount"])
    third_client = client(third["Credentials"])
    expect_error("level 4 with a Policy: refused (3 layers)",
                 lambda: third_client.get_scoped_credentials(Policy=policy("Fourth")), "ValidationError", 400,
                 contains="at most 3 layers")
    shorter = third_client.get_scoped_credentials(DurationSeconds=60)
    check("level 3 with DurationSeconds only: allowed, ScopedPoliciesCount stays 3 (per the model)",
          shorter["ScopedPoliciesCount"] == 3, shorter["ScopedPoliciesCount"])

    # ---- lifetime
    expect_error("DurationSeconds longer than the caller's remaining lifetime",
                 lambda: agent_client.get_scoped_credentials(Policy=policy("Long"), DurationSeconds=1801),
                 "InsufficientSessionLifetime", 400, "InsufficientSessionLifetimeException")
    expect_error("DurationSeconds 36 h from a 1 h session",
                 lambda: orch_client.get_scoped_credentials(DurationSeconds=129600),
                 "InsufficientSessionLifetime", 400, "InsufficientSessionLifetimeException")

    # ---- validation, with client-side validation off so that the server sees the values
    loose = client(orch, parameter_validation=False)
    cases = [
        ("DurationSeconds 0", {"DurationSeconds": 0},
         "Value '0' at 'durationSeconds' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
        ("DurationSeconds 129601", {"DurationSeconds": 129601},
         "Member must have value less than or equal to 129600"),
        ("Policy empty", {"Policy": ""}, "2 validation errors detected: Value '' at 'policy' failed to satisfy "
         "constraint: Member must have length greater than or equal to 1; Value '' at 'policy' failed to satisfy "
         "constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"),
        ("Policy over 2048 characters", {"Policy": policy("Big", "arn:aws:s3:::" + "x" * 1980)},
         "Member must have length less than or equal to 2048"),
        ("Policy with U+0100", {"Policy": policy("Wide", "arn:aws:s3:::\u0100")},
         "Member must satisfy regular expression pattern"),
        ("ScopedSessionDescription 1 character", {"DurationSeconds": 60, "ScopedSessionDescription": "x"},
         "Member must have length greater than or equal to 2"),
        ("ScopedSessionDescription 257 characters", {"DurationSeconds": 60, "ScopedSessionDescription": "x" * 257},
         "Member must have length less than or equal to 256"),
        ("ScopedSessionDescription with U+00A0", {"DurationSeconds": 60, "ScopedSessionDescription": "a\u00a0b"},
         "at 'scopedSessionDescription' failed to satisfy constraint: Member must satisfy regular expression"),
        ("MinimumSessionTokenSize 4097", {"DurationSeconds": 60, "MinimumSessionTokenSize": 4097},
         "Member must have value less than or equal to 4096"),
        ("MinimumSessionTokenSize -1", {"DurationSeconds": 60, "MinimumSessionTokenSize": -1},
         "Member must have value greater than or equal to 0"),
        ("two bad members", {"DurationSeconds": 0, "MinimumSessionTokenSize": 5000}, "2 validation errors detected"),
        ("neither Policy nor DurationSeconds", {"ScopedSessionDescription": "only a description"},
         "at least one of Policy or DurationSeconds"),
    ]
    for name, kwargs, message in cases:
        expect_error(f"validation: {name}", lambda kw=kwargs: loose.get_scoped_credentials(**kw),
                     "ValidationError", 400, contains=message)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "ten"})
    check("validation: DurationSeconds not an integer", status == 400 and b"Member must be of type integer" in body,
          body)
    valid_edge = orch_client.get_scoped_credentials(DurationSeconds=1, MinimumSessionTokenSize=4096,
                                                    ScopedSessionDescription="ok")
    check("edges accepted: DurationSeconds 1, MinimumSessionTokenSize 4096, 2-char description",
          valid_edge["SessionTokenSize"] == 4096 and valid_edge["SessionTokenUtilization"] == 100,
          (valid_edge["SessionTokenSize"], valid_edge["SessionTokenUtilization"]))

    # ---- policy documents
    for name, text_ in [("not JSON", "{not json"), ("no Statement", '{"Version":"2012-10-17"}'),
                        ("a Principal", '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*",'
                                        '"Resource":"*"}]}'),
                        ("no Resource", '{"Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}')]:
        expect_error(f"MalformedPolicyDocument: {name}", lambda t=text_: orch_client.get_scoped_credentials(Policy=t),
                     "MalformedPolicyDocument", 400, "MalformedPolicyDocumentException")

    # ---- packed size: three nearly incompressible 2,000-character policies do not fit a 4,096-byte token
    rng = secrets.SystemRandom()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

    def noisy(sid: str) -> str:
        return policy(sid, "arn:aws:s3:::" + "".join(rng.choice(alphabet) for _ in range(1900)))

    layer, packed_error = orch, None
    for depth in range(1, 4):
        try:
            answer = client(layer).get_scoped_credentials(Policy=noisy(f"Noise{depth}"))
            layer = answer["Credentials"]
        except ClientError as error:
            packed_error = (depth, error)
            break
    check("PackedPolicyTooLarge when the packed policies outgrow the token",
          packed_error is not None and packed_error[1].response["Error"]["Code"] == "PackedPolicyTooLarge"
          and type(packed_error[1]).__name__ == "PackedPolicyTooLargeException",
          packed_error and f"at depth {packed_error[0]}: {packed_error[1]}")
    control("POST", "/control/config", {"max_session_token_size": 500})
    expect_error("PackedPolicyTooLarge with max_session_token_size 500",
                 lambda: orch_client.get_scoped_credentials(Policy=noisy("Small")), "PackedPolicyTooLarge", 400,
                 "PackedPolicyTooLargeException", contains="maximum allowed size of 500 bytes")
    control("POST", "/control/config", {})

    # ---- authentication
    long_term = control("POST", "/control/session", {"arn": "arn:aws:iam::123456789012:user/alice",
                                                     "long_term": True})
    check("control: long-term key is AKIA without token",
          long_term["AccessKeyId"].startswith("AKIA") and "SessionToken" not in long_term, long_term)
    expect_error("long-term AKIA key -> InvalidSubjectCredentials",
                 lambda: client(long_term).get_scoped_credentials(DurationSeconds=60),
                 "InvalidSubjectCredentials", 400, "InvalidSubjectCredentialsException")
    expect_error("unknown access key", lambda: client({**orch, "AccessKeyId": "ASIAUNKNOWNUNKNOWN12"})
                 .get_scoped_credentials(DurationSeconds=60), "InvalidClientTokenId", 403)
    expect_error("wrong secret", lambda: client({**orch, "SecretAccessKey": "x" * 40})
                 .get_scoped_credentials(DurationSeconds=60), "SignatureDoesNotMatch", 403)
    expect_error("ASIA key without session token", lambda: client({**orch, "SessionToken": None})
                 .get_scoped_credentials(DurationSeconds=60), "InvalidClientTokenId", 403)
    expect_error("wrong session token", lambda: client({**orch, "SessionToken": orch["SessionToken"] + "AA"})
                 .get_scoped_credentials(DurationSeconds=60), "InvalidClientTokenId", 403)
    expired = control("POST", "/control/session", {"arn": arn, "expires_in": -5})
    expect_error("expired caller session", lambda: client(expired).get_scoped_credentials(DurationSeconds=60),
                 "ExpiredToken", 403)
    expect_error("unsigned request", lambda: client(orch, signature_version=UNSIGNED)
                 .get_scoped_credentials(DurationSeconds=60), "MissingAuthenticationToken", 403)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "60"}, service="iam")
    check("credential scope for service iam -> SignatureDoesNotMatch",
          status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body and b"correct service" in body, body)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "60"},
                       tamper=lambda payload: payload.replace(b"60", b"61"))
    check("body changed after signing -> SignatureDoesNotMatch",
          status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "60"},
                       target_url="https://sts.amazonaws.com/")
    check("global endpoint Host sts.amazonaws.com -> 400 InvalidAction",
          status == 400 and b"<Code>InvalidAction</Code>" in body and b"global endpoint" in body, body)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "60"},
                       target_url="https://sts.us-east-1.amazonaws.com/")
    check("regional Host sts.us-east-1.amazonaws.com -> 200", status == 200, body[:200])

    form = {"Action": OPERATION, "Version": "2011-06-15", "DurationSeconds": "60"}
    status, body = raw(orch, form, extra_headers={"User-Agent": "clawc/1.0"}, signer=SignEverySigV4)
    check("user-agent among the signed headers (as clawc signs) -> 200", status == 200, body[:200])
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    signed = AWSRequest(method="POST", url=url + "/", data=urllib.parse.urlencode(form).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                 "User-Agent": "clawc/1.0"})
    SignEverySigV4(Credentials(orch["AccessKeyId"], orch["SecretAccessKey"], orch["SessionToken"]), "sts",
                   "us-east-1").add_auth(signed)
    sent = dict(signed.headers.items())
    sent["User-Agent"] = "clawc/2.0"
    connection.request("POST", "/", body=signed.body, headers=sent)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    check("a signed header changed in transit -> SignatureDoesNotMatch",
          response.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answer, answer)

    # ---- other actions and versions
    expect_error("GetCallerIdentity -> InvalidAction", lambda: orch_client.get_caller_identity(), "InvalidAction", 400)
    status, body = raw(orch, {"Action": OPERATION, "Version": "2010-01-01", "DurationSeconds": "60"})
    check("wrong Version -> InvalidAction", status == 400 and b"<Code>InvalidAction</Code>" in body, body)

    # ---- the scoped credentials work, recorded calls, reset
    calls = control("GET", "/control/calls")["calls"]
    outcomes = {(call["status"], call["error"]) for call in calls}
    check("control/calls records params, caller and outcome",
          len(calls) > 30 and (200, None) in outcomes and (400, "InsufficientSessionLifetime") in outcomes
          and any(call["params"].get("DurationSeconds") == 1801 and call["caller"] == creds["AccessKeyId"]
                  for call in calls), f"{len(calls)} calls, outcomes {sorted(outcomes, key=str)}")
    control("POST", "/control/reset")
    expect_error("after reset, the orchestrator key is unknown",
                 lambda: orch_client.get_scoped_credentials(DurationSeconds=60), "InvalidClientTokenId", 403)
    check("after reset, no calls but that one", len(control("GET", "/control/calls")["calls"]) == 1)

    # ---- lifetime of the process: stdin EOF, then SIGTERM on a second one
    started = time.monotonic()
    child.stdin.close()
    try:
        child.wait(timeout=5)
        check("exits on stdin EOF", child.returncode == 0, f"{time.monotonic() - started:.2f} s")
    except subprocess.TimeoutExpired:
        child.kill()
        check("exits on stdin EOF", False, "still running after 5 s")
    second = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--botocore-dir", str(botocore_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    second.stdout.readline()
    second.send_signal(signal.SIGTERM)
    try:
        second.wait(timeout=5)
        check("exits on SIGTERM", second.returncode == 0, second.returncode)
    except subprocess.TimeoutExpired:
        second.kill()
        check("exits on SIGTERM", False, "still running after 5 s")

    failed = [name for ok, name, _ in results if not ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="A local STS GetScopedCredentials endpoint for the clawc tests.")
    parser.add_argument("--botocore-dir", type=Path, default=DEFAULT_BOTOCORE_DIR,
                        help=f"where botocore {BOTOCORE_VERSION} lives (installed there on first use; "
                             f"default {DEFAULT_BOTOCORE_DIR.relative_to(REPO_ROOT)} in the repository)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--describe", action="store_true", help="print the operation's model to stderr and exit")
    mode.add_argument("--self-test", action="store_true", help="start a server and exercise it end to end")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if os.environ.get("PEERS_VERBOSE") else logging.WARNING,
                        format="scoped_sts: %(message)s")
    if args.self_test:
        return self_test(args.botocore_dir)
    if args.describe:
        botocore = ensure_botocore(args.botocore_dir)
        describe(load_sts_model(botocore), botocore)
        return 0
    serve(args.botocore_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
