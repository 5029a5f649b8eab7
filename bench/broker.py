#!/usr/bin/env python3
"""The broker benchmark's driver; run it through bench/broker.sh, which builds what it needs first.

Measures, side by side in one run on this machine:
  1. the STS peer alone (bench-sts, 0 ms and 20 ms of added latency) at the fixed rate, with wrk;
  2. `clawc serve --via scoped` at the same rate against each of those peers, with the SQLite and the PostgreSQL
     ledger: latency p50/p99, and the overhead beyond STS (the broker's percentile minus the peer's alone);
  3. the highest sustained issuances per second per node (0 ms STS, wrk closed loop);
  4. the same task issued by `clawc issue` processes, one after another, for comparison.
Each request is a new task with a token of its own (minted beforehand by the test issuer, Tests/peers/peers.py).
Writes bench/out/broker.json and bench/out/broker.md, and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_line(argv: list[str], env: dict[str, str] | None = None, stderr=None) -> tuple[subprocess.Popen, dict]:
    """Starts a peer that prints one JSON line of addresses first; keeps its stdin open so it lives."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr or subprocess.DEVNULL, env=env)
    line = process.stdout.readline()
    try:
        return process, json.loads(line)
    except json.JSONDecodeError:
        process.kill()
        raise SystemExit(f"broker.py: {argv[0]} did not start: {line!r}")


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def mint(issuer: str, count: int, audience: str) -> list[str]:
    tokens: list[str] = []
    while len(tokens) < count:
        chunk = min(5000, count - len(tokens))
        tokens += post_json(issuer + "/mint-many", {"count": chunk, "claims": {"aud": audience, "exp": int(time.time()) + 3 * 3600}})["tokens"]
    return tokens


class Broker:
    def __init__(self, clawc: Path, ledger: str, issuer: str, sts: str, work: Path, name: str):
        self.log_path = work / f"serve-{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLAWC_"))}
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 12 * 3600))
        env.update({
            "AWS_ACCESS_KEY_ID": "ASIABROKERBENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_SESSION_TOKEN": "bench-token",
            "AWS_CREDENTIAL_EXPIRATION": expiration, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": sts,
        })
        self.process = subprocess.Popen(
            [str(clawc), "serve", "--rules", str(REPO / "rules"), "--issuer", issuer, "--listen", "127.0.0.1:0", "--ledger", ledger,
             "--subject-rate", "1000000", "--sts-rate", "1000000"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"), env=env)
        deadline = time.time() + 30
        self.url = None
        while time.time() < deadline and self.url is None:
            for line in self.log_path.read_text().splitlines():
                if '"message":"listening"' in line:
                    self.url = "http://" + json.loads(line)["address"]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if self.url is None:
            self.process.kill()
            raise SystemExit(f"broker.py: clawc serve did not start:\n{self.log_path.read_text()}")
        with urllib.request.urlopen(self.url + "/readyz", timeout=30) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Run:
    """One wrk invocation's tokens and answer."""

    def __init__(self, work: Path, tokens: list[str]):
        self.work = work
        self.tokens = tokens
        self.used = 0
        self.count = 0

    def wrk(self, url: str, seconds: int, rate: int, connections: int, mode: str = "broker", threads: int = 1, need: int = 0) -> dict:
        self.count += 1
        path = self.work / f"tokens-{self.count}.txt"
        take = need if mode == "broker" else 0
        if self.used + take > len(self.tokens):
            raise SystemExit("broker.py: not enough tokens minted for this run")
        path.write_text("\n".join(self.tokens[self.used:self.used + take] or ["none"]) + "\n")
        self.used += take
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(REPO / "bench" / "broker.lua"), url,
                "--", str(path), f"r{self.count}x{os.getpid()}", str(rate), str(threads), mode]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        line = [l for l in result.stdout.splitlines() if l.startswith("{")]
        if result.returncode != 0 or not line:
            raise SystemExit(f"broker.py: wrk failed:\n{result.stdout}\n{result.stderr}")
        answer = json.loads(line[-1])
        answer["rate"] = answer["requests"] / answer["seconds"]
        return answer


def issue_processes(clawc: Path, issuer: str, sts: str, tokens: list[str], work: Path, runs: int) -> dict:
    """`clawc issue` per task, one process after another, as a credential_process would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLAWC_"))}
    env.update({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": sts})
    ledger = work / f"issue-{time.time_ns()}.sqlite"
    times = []
    failures = 0
    for i in range(runs):
        task = work / "task.json"
        task.write_text(json.dumps({"taskId": f"p-{os.getpid()}-{time.time_ns()}-{i}", "purpose": "log-analysis", "tags": {"bucket": "acme-logs-123"}}))
        token = work / "token"
        token.write_text(tokens[i])
        started = time.perf_counter()
        result = subprocess.run(
            [str(clawc), "issue", "--rules", str(REPO / "rules"), "--task", str(task), "--token-file", str(token), "--issuer", issuer,
             "--audience", "sts.amazonaws.com", "--role-arn", "arn:aws:iam::123456789012:role/agents", "--no-trust-policy", "--ledger", str(ledger)],
            capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            failures += 1
            log(f"clawc issue failed: {result.stderr.strip()[:400]}")
            continue
        times.append(elapsed * 1e6)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else 0
    return {"requests": len(times), "failures": failures, "p50_us": pick(0.5), "p99_us": pick(0.99), "mean_us": statistics.fmean(times) if times else 0}


def ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clawc", required=True)
    parser.add_argument("--bench-sts", required=True)
    parser.add_argument("--postgres", help="a PostgreSQL URL for the shared-ledger runs (none: SQLite only)")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--max-seconds", type=int, default=10)
    parser.add_argument("--max-connections", type=int, default=32)
    parser.add_argument("--process-runs", type=int, default=40)
    args = parser.parse_args()

    clawc, bench_sts = Path(args.clawc), Path(args.bench_sts)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clawc-broker-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        peers, addresses = start_line([sys.executable, str(REPO / "Tests" / "peers" / "peers.py")])
        processes.append(peers)
        issuer = addresses["issuer"]
        sts = {}
        for delay in (0, 20):
            process, answer = start_line([str(bench_sts), "--delay-ms", str(delay), "--threads", "1"])
            processes.append(process)
            sts[delay] = answer["sts"]
        ledgers = {"SQLite": None, "PostgreSQL": args.postgres} if args.postgres else {"SQLite": None}

        warm = args.rate * 3
        per_rate_run = int(args.rate * args.seconds * 1.2) + warm
        per_max_run = 3000 * args.max_seconds + 2000
        need = len(ledgers) * (2 * per_rate_run + per_max_run)
        log(f"minting {need} tokens for the broker runs and {2 * args.process_runs} for clawc issue ...")
        started = time.time()
        run = Run(work, mint(issuer, need, "clawc"))
        process_tokens = mint(issuer, 2 * args.process_runs, "sts.amazonaws.com")
        log(f"minted in {time.time() - started:.0f} s")

        results: dict = {"rate": args.rate, "seconds": args.seconds, "sts_alone": {}, "broker": {}, "max": {}, "processes": {}}
        for delay in (0, 20):
            connections = 4 if delay == 0 else 12
            run.wrk(sts[delay], 3, args.rate, connections, mode="sts")
            results["sts_alone"][delay] = run.wrk(sts[delay], args.seconds, args.rate, connections, mode="sts")
            log(f"STS alone, {delay} ms: {results['sts_alone'][delay]}")
        for name, url in ledgers.items():
            for delay in (0, 20):
                connections = 8 if delay == 0 else 16
                ledger = url or str(work / f"ledger-{delay}.sqlite")
                broker = Broker(clawc, ledger, issuer, sts[delay], work, f"{name}-{delay}")
                try:
                    run.wrk(broker.url, 3, args.rate, connections, need=warm)
                    answer = run.wrk(broker.url, args.seconds, args.rate, connections, need=per_rate_run - warm)
                finally:
                    broker.stop()
                alone = results["sts_alone"][delay]
                answer["overhead_p50_us"] = answer["p50_us"] - alone["p50_us"]
                answer["overhead_p99_us"] = answer["p99_us"] - alone["p99_us"]
                results["broker"].setdefault(name, {})[delay] = answer
                log(f"broker, {name}, {delay} ms: {answer}")
            ledger = url or str(work / "ledger-max.sqlite")
            broker = Broker(clawc, ledger, issuer, sts[0], work, f"{name}-max")
            try:
                run.wrk(broker.url, 2, 0, args.max_connections, threads=1, need=2000)
                answer = run.wrk(broker.url, args.max_seconds, 0, args.max_connections, threads=1, need=per_max_run - 2000)
            finally:
                broker.stop()
            results["max"][name] = answer
            log(f"broker, {name}, highest rate: {answer}")
        for delay in (0, 20):
            half = process_tokens[:args.process_runs] if delay == 0 else process_tokens[args.process_runs:]
            answer = issue_processes(clawc, issuer, sts[delay], half, work, args.process_runs)
            alone = results["sts_alone"][delay]
            answer["overhead_p50_us"] = answer["p50_us"] - alone["p50_us"]
            answer["overhead_p99_us"] = answer["p99_us"] - alone["p99_us"]
            results["processes"][delay] = answer
            log(f"clawc issue processes, {delay} ms: {answer}")

        (OUT / "broker.json").write_text(json.dumps(results, indent=2) + "\n")
        lines = [
            f"At {args.rate} requests/s for {args.seconds} s each (wrk, open loop), after 3 s of warm-up; overhead = the broker's percentile minus the STS peer's alone.",
            "",
            "| path | ledger | STS added latency | requests | achieved rate | non-200 | p50 | p99 | overhead p50 | overhead p99 |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for delay in (0, 20):
            a = results["sts_alone"][delay]
            lines.append(f"| STS peer alone | | {delay} ms | {a['requests']} | {a['rate']:.0f}/s | {a['non_200']} | {ms(a['p50_us'])} | {ms(a['p99_us'])} | | |")
        for name in ledgers:
            for delay in (0, 20):
                a = results["broker"][name][delay]
                lines.append(f"| `clawc serve` | {name} | {delay} ms | {a['requests']} | {a['rate']:.0f}/s | {a['non_200']} | {ms(a['p50_us'])} | {ms(a['p99_us'])} | "
                             f"{ms(a['overhead_p50_us'])} | {ms(a['overhead_p99_us'])} |")
        for delay in (0, 20):
            a = results["processes"][delay]
            lines.append(f"| `clawc issue` processes, one at a time | SQLite | {delay} ms | {a['requests']} | | {a['failures']} | {ms(a['p50_us'])} | "
                         f"{ms(a['p99_us'])} | {ms(a['overhead_p50_us'])} | {ms(a['overhead_p99_us'])} |")
        lines += ["", f"Highest sustained rate, one node, 0 ms STS (wrk closed loop, {args.max_connections} connections, {args.max_seconds} s):", "",
                  "| ledger | issuances/s | non-200 | p50 | p99 |", "| --- | ---: | ---: | ---: | ---: |"]
        for name in ledgers:
            a = results["max"][name]
            lines.append(f"| {name} | {a['rate']:.0f} | {a['non_200']} | {ms(a['p50_us'])} | {ms(a['p99_us'])} |")
        (OUT / "broker.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0
    finally:
        for process in processes:
            process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
