"""An STS stand-in that fails the way networks do, for the fault-injection test of `clawc issue`.

    python3 Tests/peers/chaos_sts.py --seed N [--late SECONDS] [--only MODE] [--delay SECONDS]

Prints {"url": "http://127.0.0.1:PORT"} on stdout once it listens. Each AssumeRoleWithWebIdentity request is answered
in one of these ways, chosen from the seed, the session name and how many requests that name has made:

    ok        a 200 with a credential
    refuse    a 400 InvalidIdentityToken (STS documents it: no credential exists)
    late      a credential, answered after --late seconds (past clawc's 10 s deadline)
    reset     a credential, then the connection reset before any byte of the answer
    truncate  a credential, the head and half of the body, then the connection closed
    twice     a credential, answered twice on the same connection
    error     a 500 InternalFailure, counted as a credential (STS may have issued one before failing)

Every mode but `refuse` counts as a credential that exists, whatever clawc saw of it: the worst case. With
`--only ok` every request succeeds: a plain STS that counts what it issued, for the shared-ledger tests; `--delay`
holds every answer that long (a slow STS, so that racers for a task arrive while its outcome is unknown).

    GET /issued      {"SESSION": ["ASIA...", ...], ...}: every credential made, by session name
    GET /modes       {"ok": N, ...}: how often each mode was chosen
"""
import argparse, hashlib, json, random, socket, struct, sys, threading, time, urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ["ok", "ok", "ok", "refuse", "late", "reset", "truncate", "twice", "error"]

lock = threading.Lock()
issued: dict[str, list[str]] = {}
modes: dict[str, int] = {}
requests_per_name: dict[str, int] = {}
serial = [0]


def answer(name: str, key: str, duration: int) -> bytes:
    expiration = (datetime.now(timezone.utc) + timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>'
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-{key}</SecretAccessKey>"
        f"<SessionToken>token-{key}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
        f"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/agents/{name}</Arn>"
        f"<AssumedRoleId>AROACHAOS:{name}</AssumedRoleId></AssumedRoleUser>"
        "</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>chaos</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    ).encode()


def head(status: str, length: int) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {length}\r\n\r\n".encode()


def make_handler(seed: int, late: float, only: str | None = None, delay: float = 0.0):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock:
                body = json.dumps(issued if self.path == "/issued" else modes).encode()
            self.wfile.write(head("200 OK", len(body)).replace(b"text/xml", b"application/json") + body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            name = form.get("RoleSessionName", ["?"])[0]
            duration = int(form.get("DurationSeconds", ["900"])[0])
            with lock:
                nth = requests_per_name.get(name, 0)
                requests_per_name[name] = nth + 1
                digest = hashlib.sha256(f"{seed}/{name}/{nth}".encode()).digest()
                mode = only or random.Random(digest).choice(MODES)
                modes[mode] = modes.get(mode, 0) + 1
                key = None
                if mode != "refuse":
                    serial[0] += 1
                    key = f"ASIACHAOS{serial[0]:08d}"
                    issued.setdefault(name, []).append(key)
            if mode == "refuse":
                body = (b'<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>'
                        b'<Message>chaos: refused</Message></Error></ErrorResponse>')
                self.wfile.write(head("400 Bad Request", len(body)) + body)
                return
            if mode == "error":
                body = b'<ErrorResponse><Error><Code>InternalFailure</Code><Message>chaos</Message></Error></ErrorResponse>'
                self.wfile.write(head("500 Internal Server Error", len(body)) + body)
                return
            body = answer(name, key, duration)
            if delay:
                time.sleep(delay)
            if mode == "late":
                time.sleep(late)
            if mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if mode == "truncate":
                self.wfile.write(head("200 OK", len(body)) + body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            response = head("200 OK", len(body)) + body
            try:
                self.wfile.write(response * (2 if mode == "twice" else 1))
            except OSError:
                pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--late", type=float, default=11.0)
    parser.add_argument("--only", choices=sorted(set(MODES)), default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.seed, args.late, args.only, args.delay))
    server.daemon_threads = True
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Gone with the test process: exit when the pipe to our stdin closes.
    sys.stdin.read()


main()
