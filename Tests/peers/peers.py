#!/usr/bin/env python3
"""Local peers for the `clawc issue` tests: an STS (moto) and an OIDC issuer, on 127.0.0.1.

    python3 Tests/peers/peers.py

starts moto's server (it serves IAM and STS) and a small OIDC issuer, each on a free port, then prints exactly one
line to stdout and flushes it:

    {"sts": "http://127.0.0.1:MOTOPORT", "issuer": "http://127.0.0.1:ISSUERPORT"}

Nothing else is ever written to stdout (after that line, file descriptor 1 is pointed at stderr). Logs go to stderr.
The process exits when its stdin reaches EOF (the parent closed the pipe or died), when its parent process goes
away, and on SIGTERM/SIGINT. A parent must therefore hand it a pipe for stdin and keep that pipe open for as long
as it needs the peers; started with stdin at /dev/null it prints its line and exits at once.

    python3 Tests/peers/peers.py mint --issuer URL [--alg RS256] [--kid KID] [--claim key=value ...]

asks a running issuer's control API for a token and prints it. A claim value is read as JSON when it parses as
JSON (numbers, lists, null, true), else as a string; `--claim aud=null` removes the claim.

The issuer's endpoints (see README.md in this folder for the details):

    GET  /.well-known/openid-configuration   discovery (counted)
    GET  /jwks                               public keys: RSA `rsa-N` (RS256) and EC P-256 `ec-1` (ES256) (counted)
    GET  /rsa-public.pem                     the current RSA public key as PEM (SubjectPublicKeyInfo)
    GET  /stats                              {"jwks_requests": N, "discovery_requests": N, "sts_slow_requests": N, ...}
    GET  /whoami                             {"port": N}: the client's port, to tell a reused connection
    GET  /sts-requests                       every form request moto got that names an Action, as received
    POST /mint                               {"claims": {...}, "alg": ..., "kid": ..., "hmac_secret": ..., "header": {...}}
    POST /mint-many                          /mint's body plus {"count": N} (1..10000) -> {"tokens": [...]}
    POST /rotate                             {"keep_old": bool} -> {"kid": "rsa-N"}
    POST /jwks-mode                          {"mode": "normal"|"down"|"garbage"|"slow"|"redirect"|"trickle"|"huge"|"mixed", ...}
    POST /sts-error?status=&code=&delay=     a failing STS; /sts-slow?delay=S forwards to moto after S seconds;
                                             /sts-trickle?interval=&bytes= and /sts-huge?bytes=&content_length=1
    POST /reset                              zero the counters and forget the recorded STS requests

Needs Python 3.11, joserfc and moto[server] (Tests/peers/requirements.txt).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_lifetime import exit_when_stdin_closes, never_outlive_parent  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_AUDIENCE = "sts.amazonaws.com"
DEFAULT_SUBJECT = "system:serviceaccount:agents:log-bot"
DEFAULT_TTL = 600
DEFAULT_SLOW_DELAY = 10.0
DEFAULT_TRICKLE_BYTES = 600  # ten minutes at one byte a second
DEFAULT_HUGE_BYTES = 1 << 30  # 1 GiB, generated as it is sent
BLOCK = 64 * 1024

log = logging.getLogger("peers")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------------------------
# The issuer's state
# --------------------------------------------------------------------------------------------------------------

_ABSENT = object()

HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
EC_ALGS = {"ES256"}


class Issuer:
    """Keys, JWKS mode and counters. Every method holds the lock while it reads or changes state."""

    def __init__(self) -> None:
        from joserfc.jwk import ECKey, RSAKey

        self.url = ""  # set once the server is bound
        self.lock = threading.Lock()
        self.rsa_generation = 1
        first = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256", "use": "sig"})
        self.rsa_keys: dict[str, Any] = {"rsa-1": first}  # every RSA key ever made, by kid (old ones still sign)
        self.rsa_current = "rsa-1"
        self.rsa_served: list[str] = ["rsa-1"]
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256", "use": "sig"})
        # mixed mode: an RSA key that shares the current key's kid but signs nothing clawc is given
        self.decoy = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
        self.mode = "normal"
        self.slow_delay = DEFAULT_SLOW_DELAY
        self.cache_control = "no-store"
        self.interval = 1.0  # trickle: seconds between bytes
        self.body_bytes: int | None = None  # trickle/huge: body size (None: the mode's default)
        self.content_length = False  # huge: declare Content-Length (else chunked)
        self.jwks_requests = 0
        self.sts_slow_requests = 0
        self.sts_slow_in_flight = 0
        self.sts_slow_max_in_flight = 0
        self.sts_error_requests = 0
        self.discovery_requests = 0

    # ---- documents

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"],
        }

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            keys = [self.rsa_keys[kid].as_dict(private=False) for kid in self.rsa_served]
            keys.append(self.ec_key.as_dict(private=False))
        return {"keys": keys}

    def mixed_jwks(self) -> dict[str, Any]:
        """The real keys behind keys a client must skip (RFC 7517 §5) and a decoy sharing the current kid."""
        with self.lock:
            real = [self.rsa_keys[kid].as_dict(private=False) for kid in self.rsa_served]
            decoy = self.decoy.as_dict(private=False)
            decoy["kid"] = self.rsa_current
        filler = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        encryption = dict(real[0], kid="enc-1", use="enc", alg="RSA-OAEP-256")
        skipped = [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac-1"},
            encryption,
            {"kty": "EC", "crv": "secp256k1", "x": filler, "y": filler, "kid": "k1"},
            {"kty": "OKP", "crv": "X25519", "x": filler, "kid": "x1"},
        ]
        return {"keys": skipped + [decoy] + real + [self.ec_key.as_dict(private=False)]}

    def rsa_public_pem(self) -> bytes:
        with self.lock:
            return self.rsa_keys[self.rsa_current].as_pem(private=False)

    # ---- control

    def rotate(self, keep_old: bool) -> str:
        from joserfc.jwk import RSAKey

        with self.lock:
            self.rsa_generation += 1
            kid = f"rsa-{self.rsa_generation}"
            self.rsa_keys[kid] = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
            self.rsa_current = kid
            self.rsa_served = [kid] + (self.rsa_served if keep_old else [])
            return kid

    def set_mode(
        self,
        mode: str,
        delay: float | None,
        cache_control: str | None,
        interval: float | None = None,
        body_bytes: int | None = None,
        content_length: bool = False,
    ) -> None:
        with self.lock:
            self.mode = mode
            self.slow_delay = DEFAULT_SLOW_DELAY if delay is None else float(delay)
            self.cache_control = "no-store" if cache_control is None else str(cache_control)
            self.interval = 1.0 if interval is None else float(interval)
            self.body_bytes = None if body_bytes is None else int(body_bytes)
            self.content_length = bool(content_length)

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "jwks_requests": self.jwks_requests,
                "discovery_requests": self.discovery_requests,
                "sts_slow_requests": self.sts_slow_requests,
                "sts_slow_max_in_flight": self.sts_slow_max_in_flight,
            }

    def reset_stats(self) -> None:
        with self.lock:
            self.jwks_requests = 0
            self.discovery_requests = 0
            self.sts_slow_requests = 0
            self.sts_slow_max_in_flight = 0

    # ---- tokens

    def mint(self, body: dict[str, Any]) -> dict[str, Any]:
        alg = body.get("alg", "RS256")
        if not isinstance(alg, str):
            raise ValueError("alg must be a string")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": DEFAULT_AUDIENCE,
            "sub": DEFAULT_SUBJECT,
            "iat": now,
            "nbf": now,
            "exp": now + DEFAULT_TTL,
            "jti": secrets.token_hex(16),
        }
        overrides = body.get("claims") or {}
        if not isinstance(overrides, dict):
            raise ValueError("claims must be an object")
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value

        kid_override = body.get("kid", _ABSENT)
        with self.lock:
            if alg in RSA_ALGS:
                # A kid naming an RSA key we made (even a retired one) picks that key; any other kid only
                # changes the header.
                if isinstance(kid_override, str) and kid_override in self.rsa_keys:
                    key = self.rsa_keys[kid_override]
                else:
                    key = self.rsa_keys[self.rsa_current]
                default_kid: str | None = key.kid
            elif alg in EC_ALGS:
                key = self.ec_key
                default_kid = key.kid
            elif alg in HMAC_HASHES:
                secret = body.get("hmac_secret")
                if secret is None:
                    # The classic alg-confusion token: HMAC keyed with the RSA public key's PEM text.
                    secret = self.rsa_keys[self.rsa_current].as_pem(private=False).decode("ascii")
                if not isinstance(secret, str):
                    raise ValueError("hmac_secret must be a string")
                key = secret.encode("utf-8")
                default_kid = self.rsa_current
            elif alg == "none":
                key = None
                default_kid = None
            else:
                raise ValueError(f"unsupported alg {alg!r}")

        header: dict[str, Any] = {"alg": alg}
        kid = default_kid if kid_override is _ABSENT else kid_override
        if kid is not None:
            header["kid"] = kid
        extra = body.get("header") or {}
        if not isinstance(extra, dict):
            raise ValueError("header must be an object")
        for name, value in extra.items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value

        signing_input = (b64url(compact_json(header)) + "." + b64url(compact_json(claims))).encode("ascii")
        if alg == "none":
            signature = b""
        elif alg in HMAC_HASHES:
            signature = hmac.new(key, signing_input, HMAC_HASHES[alg]).digest()
        else:
            from joserfc.jws import JWSRegistry

            # Sign with the algorithm named by `alg`, whatever the header (maybe overridden) says.
            signature = JWSRegistry.algorithms[alg].sign(signing_input, key)
        token = signing_input.decode("ascii") + "." + b64url(signature)
        return {"token": token, "header": header, "claims": claims}


class StsRecorder:
    """WSGI middleware in front of moto: keeps every form-encoded request that names an Action (Query API: STS,
    IAM), so tests can see exactly what was sent: parameters, whether it was signed, and moto's status."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        record: dict[str, Any] | None = None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if environ.get("REQUEST_METHOD") == "POST" and length > 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            if "Action" in params:
                record = {
                    "action": params["Action"][0],
                    "params": {name: values[-1] for name, values in params.items()},
                    "signed": bool(environ.get("HTTP_AUTHORIZATION")),
                    "content_type": environ.get("CONTENT_TYPE", ""),
                    "path": environ.get("PATH_INFO", ""),
                    "status": None,
                }
                with self.lock:
                    self.requests.append(record)

        def recording_start_response(status: str, headers: Any, *rest: Any) -> Any:
            if record is not None:
                record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, *rest)

        return self.app(environ, recording_start_response)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(record) for record in self.requests]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


# --------------------------------------------------------------------------------------------------------------
# The issuer's HTTP server
# --------------------------------------------------------------------------------------------------------------


def make_handler(issuer: Issuer, recorder: StsRecorder, moto_url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "clawc-test-issuer"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if os.environ.get("PEERS_VERBOSE"):
                sys.stderr.write("issuer: " + (format % args) + "\n")

        def send(self, status: int, body: bytes, content_type: str, cache_control: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if cache_control:
                self.send_header("Cache-Control", cache_control)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_json(self, status: int, value: Any, cache_control: str | None = "no-store") -> None:
            self.send(status, json.dumps(value).encode("utf-8"), "application/json", cache_control)

        def trickle(self, total: int, interval: float, content_type: str) -> None:
            """200 with `Content-Length: total`, then one byte every `interval` seconds until done or the client
            hangs up. The body is `{` and spaces: valid JSON's start, never finished in any useful time."""
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            try:
                for index in range(total):
                    self.wfile.write(b"{" if index == 0 else b" ")
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:  # the client gave up: what it should do
                self.close_connection = True

        def huge(self, total: int, declare_length: bool, content_type: str, prefix: bytes) -> None:
            """200 with a body of `total` bytes made while sending (nothing stored): `prefix`, then spaces.
            Chunked unless `declare_length`. Stops quietly when the client hangs up."""
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            if declare_length:
                self.send_header("Content-Length", str(total))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            filler = b" " * BLOCK
            sent = 0
            try:
                while sent < total:
                    block = (prefix + filler)[:BLOCK] if sent == 0 else filler
                    block = block[: total - sent]
                    if declare_length:
                        self.wfile.write(block)
                    else:
                        self.wfile.write(b"%x\r\n" % len(block) + block + b"\r\n")
                    sent += len(block)
                if not declare_length:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True

        def read_json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return {}
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("body must be a JSON object")
            return value

        def published(self, counter: str) -> tuple[str, str] | None:
            """Count a discovery/JWKS request and apply the JWKS mode. None: the response was already sent."""
            with issuer.lock:
                setattr(issuer, counter, getattr(issuer, counter) + 1)
                mode, delay, cache_control = issuer.mode, issuer.slow_delay, issuer.cache_control
                interval, body_bytes, content_length = issuer.interval, issuer.body_bytes, issuer.content_length
            if counter == "jwks_requests" and mode == "trickle":
                self.trickle(DEFAULT_TRICKLE_BYTES if body_bytes is None else body_bytes, interval, "application/json")
                return None
            if counter == "jwks_requests" and mode == "huge":
                total = DEFAULT_HUGE_BYTES if body_bytes is None else body_bytes
                self.huge(total, content_length, "application/json", b'{"keys": [')
                return None
            if mode == "slow":
                time.sleep(delay)
            elif mode == "down":
                self.send_json(503, {"error": "temporarily_unavailable"})
                return None
            return mode, cache_control

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/.well-known/openid-configuration":
                state = self.published("discovery_requests")
                if state is not None:
                    self.send_json(200, issuer.discovery(), cache_control=state[1])
            elif path == "/jwks":
                state = self.published("jwks_requests")
                if state is None:
                    return
                mode, cache_control = state
                if mode == "redirect":
                    # A redirect to a path that does serve the keys: a client that follows it would succeed.
                    self.send_response(302)
                    self.send_header("Location", issuer.url + "/jwks-target")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif mode == "garbage":
                    self.send(200, b"\x00\xffthis is <not> json {{{\n", "application/json", cache_control)
                elif mode == "mixed":
                    self.send(200, json.dumps(issuer.mixed_jwks()).encode("utf-8"), "application/json", cache_control)
                else:
                    self.send(200, json.dumps(issuer.jwks()).encode("utf-8"), "application/json", cache_control)
            elif path == "/jwks-target":
                self.send(200, json.dumps(issuer.jwks()).encode("utf-8"), "application/json", "no-store")
            elif path == "/rsa-public.pem":
                self.send(200, issuer.rsa_public_pem(), "application/x-pem-file", "no-store")
            elif path == "/stats":
                self.send_json(200, issuer.stats())
            elif path == "/whoami":
                self.send_json(200, {"port": self.client_address[1]})
            elif path == "/sts-requests":
                self.send_json(200, {"requests": recorder.snapshot()})
            else:
                self.send_json(404, {"error": "not_found", "path": path})

        do_HEAD = do_GET

        def sts_error(self) -> None:
            """A stand-in STS that always fails: `?status=500&code=InternalFailure`. Counts the calls."""
            query = urllib.parse.parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "")
            status = int(query.get("status", ["500"])[0])
            code = query.get("code", ["InternalFailure"])[0]
            delay = float(query.get("delay", ["0"])[0])
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with issuer.lock:
                issuer.sts_error_requests += 1
            if delay:
                time.sleep(delay)
            kind = "Receiver" if status >= 500 else "Sender"
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>{kind}</Type><Code>{code}</Code><Message>test peer answers {status}</Message>"
                "</Error><RequestId>test</RequestId></ErrorResponse>"
            ).encode("utf-8")
            self.send(status, body, "text/xml")

        def query(self) -> dict[str, str]:
            raw = self.path.split("?", 1)[1] if "?" in self.path else ""
            return {name: values[-1] for name, values in urllib.parse.parse_qs(raw).items()}

        def drain_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def sts_slow(self) -> None:
            """A slow STS: `?delay=5` seconds, then the request goes to moto and its answer comes back as is."""
            delay = float(self.query().get("delay", "5"))
            body = self.drain_body()
            with issuer.lock:
                issuer.sts_slow_requests += 1
                issuer.sts_slow_in_flight += 1
                issuer.sts_slow_max_in_flight = max(issuer.sts_slow_max_in_flight, issuer.sts_slow_in_flight)
            try:
                time.sleep(delay)
            finally:
                with issuer.lock:
                    issuer.sts_slow_in_flight -= 1
            forwarded = {name: value for name, value in self.headers.items()
                         if name.lower() in ("content-type", "authorization", "x-amz-date", "x-amz-security-token")}
            request = urllib.request.Request(moto_url + "/", data=body, headers=forwarded, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    status, payload, content_type = answer.status, answer.read(), answer.headers.get("Content-Type", "text/xml")
            except urllib.error.HTTPError as error:
                status, payload, content_type = error.code, error.read(), error.headers.get("Content-Type", "text/xml")
            self.send(status, payload, content_type)

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/sts-error":
                self.sts_error()
                return
            if path == "/sts-slow":
                self.sts_slow()
                return
            if path == "/sts-trickle":
                query = self.query()
                self.drain_body()
                self.trickle(int(query.get("bytes", str(DEFAULT_TRICKLE_BYTES))), float(query.get("interval", "1")), "text/xml")
                return
            if path == "/sts-huge":
                query = self.query()
                self.drain_body()
                total = int(query.get("bytes", str(DEFAULT_HUGE_BYTES)))
                self.huge(total, query.get("content_length", "0") == "1", "text/xml",
                          b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')
                return
            if path == "/sts-error-count":
                self.read_json()
                with issuer.lock:
                    self.send_json(200, {"count": issuer.sts_error_requests})
                return
            try:
                body = self.read_json()
                if path == "/mint":
                    self.send_json(200, issuer.mint(body))
                elif path == "/mint-many":
                    # For load tests (bench/broker.sh): `count` tokens like /mint's, each with its own jti.
                    count = body.get("count", 1)
                    if not isinstance(count, int) or not 1 <= count <= 10000:
                        raise ValueError("count must be an integer from 1 to 10000")
                    self.send_json(200, {"tokens": [issuer.mint(body)["token"] for _ in range(count)]})
                elif path == "/rotate":
                    self.send_json(200, {"kid": issuer.rotate(bool(body.get("keep_old", False)))})
                elif path == "/jwks-mode":
                    mode = body.get("mode")
                    if mode not in ("normal", "down", "garbage", "slow", "redirect", "trickle", "huge", "mixed"):
                        raise ValueError(f"unknown mode {mode!r}")
                    issuer.set_mode(
                        mode, body.get("delay"), body.get("cache_control"), interval=body.get("interval"),
                        body_bytes=body.get("bytes"), content_length=bool(body.get("content_length", False)))
                    self.send_json(200, {"mode": mode})
                elif path == "/reset":
                    issuer.reset_stats()
                    recorder.clear()
                    self.send_json(200, issuer.stats())
                else:
                    self.send_json(404, {"error": "not_found", "path": path})
            except (ValueError, TypeError, KeyError) as error:
                self.send_json(400, {"error": str(error)})

    return Handler


def serve() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="peers: %(name)s: %(message)s")
    for noisy in ("werkzeug", "moto", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.INFO if os.environ.get("PEERS_VERBOSE") else logging.ERROR)
    never_outlive_parent()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    _, moto_port = moto.get_host_and_port()
    # Put the recorder in front of moto's WSGI app (werkzeug's handler calls `server.app` on each request; no
    # request can have come yet: nobody knows the port).
    recorder = StsRecorder(moto._server.app)  # noqa: SLF001
    moto._server.app = recorder  # noqa: SLF001

    issuer = Issuer()
    server = ThreadingHTTPServer((HOST, 0), make_handler(issuer, recorder, f"http://{HOST}:{moto_port}"))
    server.daemon_threads = True
    issuer.url = f"http://{HOST}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True, name="issuer").start()

    sys.stdout.write(json.dumps({"sts": f"http://{HOST}:{moto_port}", "issuer": issuer.url}) + "\n")
    sys.stdout.flush()
    # Nothing else may reach stdout (moto prints there in places): point fd 1 at stderr.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    log.info("sts %s, issuer %s", f"http://{HOST}:{moto_port}", issuer.url)

    exit_when_stdin_closes()
    forever = threading.Event()
    while True:
        forever.wait(3600)


# --------------------------------------------------------------------------------------------------------------
# CLI: mint
# --------------------------------------------------------------------------------------------------------------


def parse_claim(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--claim wants key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def mint_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="peers.py mint", description="Ask a running issuer for a token.")
    parser.add_argument("--issuer", required=True, help="the issuer URL printed by peers.py")
    parser.add_argument("--alg", default="RS256", help="RS256 (default), ES256, HS256 or none")
    parser.add_argument("--kid", help="kid for the header (an RSA kid the issuer made also picks that key)")
    parser.add_argument("--hmac-secret", help="secret for HS256 (default: the current RSA public key PEM)")
    parser.add_argument("--claim", action="append", default=[], type=parse_claim, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    body: dict[str, Any] = {"alg": args.alg, "claims": dict(args.claim)}
    if args.kid is not None:
        body["kid"] = args.kid
    if args.hmac_secret is not None:
        body["hmac_secret"] = args.hmac_secret
    request = urllib.request.Request(
        args.issuer.rstrip("/") + "/mint",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(json.load(response)["token"])
    except urllib.error.HTTPError as error:
        print(f"peers.py mint: {error.code}: {error.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"peers.py mint: {error.reason}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "mint":
        return mint_cli(sys.argv[2:])
    if len(sys.argv) > 1:
        print("usage: peers.py | peers.py mint --issuer URL [--alg ALG] [--claim key=value ...]", file=sys.stderr)
        return 2
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
