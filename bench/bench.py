#!/usr/bin/env python3
"""Measure clawc against policy_sentry and policyuniverse on the corpus of bench/make_corpus.py.

Run by bench/run.sh with the venv's Python. Three measurements, in one run:

1. whole process: `clawc compile` (release binary) against `policy_sentry write-policy`, both in the same
   hyperfine invocation per case, on a subset of the corpus from small to large;
2. in process: policy_sentry's `write_policy_with_template` (and policyuniverse's `minimize_policy`) timed with
   timeit on every case, beside clawc's warm compile from the Benchmarks package (`compile: one task, warm rules`);
3. policy size after minimization, and whether each output grants anything beyond the input set of
   (action, resource) pairs, with every action pattern expanded against clawc's catalog.

Writes bench/out/results.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import timeit
from datetime import datetime, timezone
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import grants as G  # noqa: E402

STS_LIMIT = 2048
OUT = HERE / "out"  # where the hyperfine exports and the Benchmarks output go: beside --out


# ---------------------------------------------------------------------------------------------------------------
# Running the tools


def clawc_compile(clawc: str, case_dir: Path, max_chars: int | None = None) -> subprocess.CompletedProcess:
    cmd = [clawc, "compile", "--rules", str(case_dir / "rules"), "--task", str(case_dir / "task.yaml")]
    if max_chars is not None:
        cmd += ["--max-chars", str(max_chars)]
    return subprocess.run(cmd, capture_output=True, text=True)


def clawc_error_code(stderr: str) -> str:
    m = re.search(r"error: .*\[([a-z-]+)\]", stderr)
    return m.group(1) if m else stderr.strip().splitlines()[0] if stderr.strip() else "unknown"


def clawc_smallest(clawc: str, case_dir: Path) -> tuple[dict | None, str | None]:
    """clawc's smallest policy for the case: it only applies its size-fitting steps (Sids dropped, action
    wildcards the rule allows) when over the limit, so ask for the lowest limit it takes (100), read the size it
    reaches from the `policy-too-large` error, and compile again with exactly that limit."""
    res = clawc_compile(clawc, case_dir, 100)
    if res.returncode == 0:
        return json.loads(res.stdout), None
    m = re.search(r"the policy is (\d+) characters", res.stderr)
    if not m:
        return None, clawc_error_code(res.stderr)
    res = clawc_compile(clawc, case_dir, max(100, int(m.group(1))))
    if res.returncode != 0:
        return None, clawc_error_code(res.stderr)
    return json.loads(res.stdout), None


@contextlib.contextmanager
def quiet():
    """policyuniverse prints progress to stdout and stderr; keep it out of the report."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def policyuniverse_minimize(policy: dict) -> tuple[dict | None, str | None]:
    from policyuniverse.expander_minimizer import minimize_policy

    try:
        with quiet():
            return minimize_policy(policy=copy.deepcopy(policy), minchars=0), None
    except Exception as exc:  # policyuniverse raises a bare Exception for an action it does not know
        return None, str(exc)


def policy_sentry_write(cfg: dict, minimize: int | None) -> dict:
    from policy_sentry.command.write_policy import write_policy_with_template

    return write_policy_with_template(copy.deepcopy(cfg), minimize)


# ---------------------------------------------------------------------------------------------------------------
# Sizes and grants


TOOLS = [
    ("input", "explicit input policy (no minimization)"),
    ("clawc", "clawc compile (default --max-chars 2048)"),
    ("clawc_smallest", "clawc compile, smallest it reaches (--max-chars at its floor)"),
    ("policy_sentry", "policy_sentry write-policy (no --minimize)"),
    ("policy_sentry_min0", "policy_sentry write-policy --minimize 0"),
    ("policyuniverse_min0", "policyuniverse minimize_policy(minchars=0) on the input policy"),
]


def assess(policy: dict | None, error: str | None, input_pairs: set) -> dict:
    if policy is None:
        return {"ok": False, "error": error}
    text = G.minified(policy)
    pairs, problems = G.grants(policy)
    cmp = G.compare(pairs, input_pairs)
    return {
        "ok": True, "chars": len(text), "fits": len(text) <= STS_LIMIT, "statements": len(G.as_list(policy["Statement"])),
        "wildcards": G.wildcard_actions(policy), "problems": problems, **cmp, "policy": policy,
    }


def sizes(corpus: list[dict], clawc: str, log) -> dict:
    out = {}
    for case in corpus:
        d = Path(case["dir"])
        input_policy = json.loads((d / "input-policy.json").read_text())
        input_pairs = {tuple(p) for p in json.loads((d / "input-grants.json").read_text())}
        cfg = yaml.safe_load((d / "template.yml").read_text())
        row = {"input": assess(input_policy, None, input_pairs)}
        res = clawc_compile(clawc, d)
        row["clawc"] = assess(json.loads(res.stdout), None, input_pairs) if res.returncode == 0 else \
            assess(None, clawc_error_code(res.stderr), input_pairs)
        row["clawc_smallest"] = assess(*clawc_smallest(clawc, d), input_pairs)
        row["policy_sentry"] = assess(policy_sentry_write(cfg, None), None, input_pairs)
        row["policy_sentry_min0"] = assess(policy_sentry_write(cfg, 0), None, input_pairs)
        row["policyuniverse_min0"] = assess(*policyuniverse_minimize(input_policy), input_pairs)
        out[case["name"]] = row
        log(f"sizes {case['name']}: " + ", ".join(
            f"{k}={v['chars'] if v['ok'] else 'ERR'}{'+' if v.get('extra_pairs') else ''}" for k, v in row.items()))
    return out


def size_summary(rows: dict) -> dict:
    names = list(rows)
    # Every tool but clawc's default run (which refuses what it cannot fit under 2,048 characters safely).
    common = [n for n in names if all(rows[n][t]["ok"] for t, _ in TOOLS if t != "clawc")]
    summary = {"cases": len(names), "cases_common": len(common)}
    for tool, label in TOOLS:
        ok = [n for n in names if rows[n][tool]["ok"]]
        extra = [n for n in ok if rows[n][tool]["extra_pairs"]]
        missing = [n for n in ok if rows[n][tool]["missing_pairs"]]
        wider = [n for n in ok if rows[n][tool]["wider_resources"]]
        example = None
        if extra:
            # The example with the most extra actions.
            n = max(extra, key=lambda n: (len(rows[n][tool]["extra_actions"]), n))
            r = rows[n][tool]
            example = {"case": n, "extra_actions": r["extra_actions"][:8], "extra_action_count": len(r["extra_actions"]),
                       "wildcards": r["wildcards"][:8], "wider_resources": r["wider_resources"][:3]}
        errors: dict[str, int] = {}
        for n in names:
            if not rows[n][tool]["ok"]:
                key = rows[n][tool]["error"].split(". ")[0][:80]
                errors[key] = errors.get(key, 0) + 1
        summary[tool] = {
            "label": label,
            "cases_with_output": len(ok),
            "errors": errors,
            "total_chars_common": sum(rows[n][tool]["chars"] for n in common) if tool != "clawc" else None,
            "total_chars_all": sum(rows[n][tool]["chars"] for n in names) if len(ok) == len(names) else None,
            "median_chars": statistics.median(rows[n][tool]["chars"] for n in ok) if ok else None,
            "fits_2048": sum(1 for n in ok if rows[n][tool]["fits"]),
            "grants_beyond_input": len(extra),
            "beyond_input_example": example,
            "wider_resources_cases": len(wider),
            "misses_input": len(missing),
            "misses_example": ({"case": missing[0], "pairs": rows[missing[0]][tool]["missing_example"]} if missing else None),
            "uses_action_wildcards": sum(1 for n in ok if rows[n][tool]["wildcards"]),
        }
    # Cases clawc refuses (nothing safe fits 2,048) where another tool's output does fit.
    refused = [n for n in names if not rows[n]["clawc"]["ok"]]
    summary["clawc_refuses_other_fits"] = {
        tool: [n for n in refused if rows[n][tool]["ok"] and rows[n][tool]["fits"]]
        for tool in ("policy_sentry", "policy_sentry_min0", "policyuniverse_min0")}
    # Head to head: clawc's smallest against policyuniverse, case by case, where both produced a policy.
    both = [n for n in names if rows[n]["clawc_smallest"]["ok"] and rows[n]["policyuniverse_min0"]["ok"]]
    summary["clawc_smallest_vs_policyuniverse"] = {
        "cases": len(both),
        "clawc_smaller": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] < rows[n]["policyuniverse_min0"]["chars"]),
        "equal": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] == rows[n]["policyuniverse_min0"]["chars"]),
        "clawc_larger": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] > rows[n]["policyuniverse_min0"]["chars"]),
        "clawc_total": sum(rows[n]["clawc_smallest"]["chars"] for n in both),
        "policyuniverse_total": sum(rows[n]["policyuniverse_min0"]["chars"] for n in both),
    }
    both = [n for n in names if rows[n]["clawc_smallest"]["ok"]]
    summary["clawc_smallest_vs_policy_sentry_min0"] = {
        "cases": len(both),
        "clawc_smaller": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] < rows[n]["policy_sentry_min0"]["chars"]),
        "equal": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] == rows[n]["policy_sentry_min0"]["chars"]),
        "clawc_larger": sum(1 for n in both if rows[n]["clawc_smallest"]["chars"] > rows[n]["policy_sentry_min0"]["chars"]),
        "clawc_total": sum(rows[n]["clawc_smallest"]["chars"] for n in both),
        "policy_sentry_total": sum(rows[n]["policy_sentry_min0"]["chars"] for n in both),
    }
    return summary


# ---------------------------------------------------------------------------------------------------------------
# In-process timing


def time_call(fn, repeat: int) -> float:
    """Median seconds per call over `repeat` timeit rounds, each long enough to last about 0.2 s."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def in_process(corpus: list[dict], repeat: int, log) -> dict:
    from policy_sentry.command.write_policy import write_policy_with_template
    from policyuniverse.expander_minimizer import minimize_policy

    per_case = {}
    for case in corpus:
        d = Path(case["dir"])
        cfg = yaml.safe_load((d / "template.yml").read_text())
        input_policy = json.loads((d / "input-policy.json").read_text())
        # write_policy_with_template leaves its cfg alone. minimize_policy replaces each statement's Action, so
        # each call gets a shallow copy of the statements (a few microseconds, inside the timing).
        row = {
            "policy_sentry": time_call(lambda: write_policy_with_template(cfg), repeat),
            "policy_sentry_min0": time_call(lambda: write_policy_with_template(cfg, 0), repeat),
        }
        ok, _ = policyuniverse_minimize(input_policy)
        if ok is not None:
            def fresh() -> dict:
                return {"Version": input_policy["Version"], "Statement": [dict(s) for s in input_policy["Statement"]]}
            with quiet():
                row["policyuniverse_min0"] = time_call(lambda: minimize_policy(policy=fresh(), minchars=0), repeat)
        per_case[case["name"]] = row
        log(f"in-process {case['name']}: " + ", ".join(f"{k}={v * 1e3:.2f} ms" for k, v in row.items()))
    summary = {}
    for tool in ("policy_sentry", "policy_sentry_min0", "policyuniverse_min0"):
        xs = [r[tool] for r in per_case.values() if tool in r]
        summary[tool] = {"cases": len(xs), "median_s": statistics.median(xs), "geomean_s": geomean(xs),
                         "min_s": min(xs), "max_s": max(xs)}
    return {"per_case": per_case, "summary": summary}


def swift_benchmark(log) -> dict | None:
    """clawc's warm compile from the Benchmarks package: p50 and p99 of `compile: one task, warm rules`."""
    bench_dir = G.REPO / "Benchmarks"
    cmd = ["swift", "package", "--disable-sandbox", "benchmark", "--filter", "compile: one task, warm rules",
           "--no-progress"]
    log("running " + " ".join(shlex.quote(c) for c in cmd) + " in Benchmarks/ (builds it first if needed)")
    res = subprocess.run(cmd, cwd=bench_dir, capture_output=True, text=True)
    (OUT / "swift-benchmark.txt").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        log(f"swift benchmark failed (exit {res.returncode}); see bench/out/swift-benchmark.txt")
        return None
    return parse_swift_benchmark(res.stdout)


UNITS = {"ns": 1e-9, "μs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_swift_benchmark(text: str) -> dict | None:
    """Read the wall-clock row of ordo-one/benchmark's text table: `│ Time (wall clock) (μs) * │ p0 │ p25 │ p50 │
    p75 │ p90 │ p99 │ p100 │ Samples │`."""
    header = None
    for line in text.splitlines():
        # The table is drawn with box characters (│); plain `|` in some versions.
        cells = [c.strip() for c in re.split(r"[│|]", line.strip().strip("│|"))]
        if len(cells) > 1 and cells[0].lower().startswith("metric"):
            header = [c.lower() for c in cells]
        m = re.match(r"Time \(wall clock\) \((\S+)\)", cells[0]) if cells else None
        if m and header:
            scale = UNITS.get(m.group(1))
            if scale is None:
                return None
            values = dict(zip(header[1:], cells[1:]))

            def num(key: str) -> float:
                raw = values[key].replace(",", "")
                mult = 1.0
                if raw.endswith("K"):
                    raw, mult = raw[:-1], 1e3
                elif raw.endswith("M"):
                    raw, mult = raw[:-1], 1e6
                return float(raw) * mult

            p50 = next(k for k in header if k.startswith("p50"))
            p99 = next(k for k in header if k.startswith("p99"))
            samples = next((k for k in header if k.startswith("samples")), None)
            return {"p50_s": num(p50) * scale, "p99_s": num(p99) * scale,
                    "samples": int(num(samples)) if samples else None, "unit": m.group(1)}
    return None


# ---------------------------------------------------------------------------------------------------------------
# Whole-process timing


def pick_subset(corpus: list[dict], count: int) -> list[dict]:
    """`count` cases spread from the smallest input to the largest (by input pairs)."""
    ordered = sorted(corpus, key=lambda c: (c["input_pairs"], c["name"]))
    if count >= len(ordered):
        return ordered
    idx = sorted({round(i * (len(ordered) - 1) / (count - 1)) for i in range(count)})
    return [ordered[i] for i in idx]


def whole_process(corpus: list[dict], clawc: str, policy_sentry: str, count: int, warmup: int, runs: int,
                  log, hello: str | None = None) -> dict:
    hf_dir = OUT / "hyperfine"
    if hf_dir.exists():
        for old in hf_dir.glob("*.json"):
            old.unlink()
    hf_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in pick_subset(corpus, count):
        d = Path(case["dir"])
        clawc_cmd = [clawc, "compile", "--rules", str(d / "rules"), "--task", str(d / "task.yaml")]
        if clawc_compile(clawc, d).returncode != 0:
            # Over 2,048 characters even after the safe fitting steps: clawc refuses; time the same compile
            # with a limit it meets, so both tools write the policy.
            clawc_cmd += ["--max-chars", "100000"]
        ps_cmd = [policy_sentry, "write-policy", "--input-file", str(d / "template.yml")]
        export = hf_dir / f"{case['name']}.json"
        cmd = ["hyperfine", "-N", "--style", "basic", "--warmup", str(warmup), "--runs", str(runs),
               "--export-json", str(export),
               "-n", "clawc", shlex.join(clawc_cmd), "-n", "policy_sentry", shlex.join(ps_cmd)]
        log(f"hyperfine {case['name']}")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        results = {r["command"]: r for r in json.loads(export.read_text())["results"]}
        c, p = results["clawc"], results["policy_sentry"]
        rows.append({
            "case": case["name"], "services": case["services"], "targets": case["targets"],
            "input_pairs": case["input_pairs"], "clawc_cmd": shlex.join(clawc_cmd), "policy_sentry_cmd": shlex.join(ps_cmd),
            "clawc_mean_s": c["mean"], "clawc_stddev_s": c["stddev"], "clawc_median_s": c["median"],
            "policy_sentry_mean_s": p["mean"], "policy_sentry_stddev_s": p["stddev"], "policy_sentry_median_s": p["median"],
            "ratio_mean": p["mean"] / c["mean"], "ratio_median": p["median"] / c["median"],
        })
        log(f"  clawc {c['mean'] * 1e3:.1f} ms, policy_sentry {p['mean'] * 1e3:.1f} ms, ratio {rows[-1]['ratio_mean']:.1f}x")
    # Process start alone: `--version` loads nothing for clawc, while policy_sentry's imports load its whole
    # 13 MB IAM definition, so this is the floor of each tool's whole-process time.
    # With a static Foundation hello-world (the floor of any Swift process) and the shipped example compile in the
    # same invocation, so their ratio is measured side by side.
    export = hf_dir / "floors.json"
    log("hyperfine floors (--version, hello-world)")
    named = ["-n", "clawc --version", shlex.join([clawc, "--version"]),
             "-n", "policy_sentry --version", shlex.join([policy_sentry, "--version"])]
    if hello:
        example = [clawc, "compile", "--rules", str(REPO / "rules"), "--task", str(REPO / "golden/log-analysis/one-bucket.task.yaml")]
        named += ["-n", "clawc compile (example task)", shlex.join(example), "-n", "hello-world (static Foundation)", hello]
    subprocess.run(["hyperfine", "-N", "--style", "basic", "--warmup", str(warmup), "--runs", str(runs),
                    "--export-json", str(export)] + named, check=True, stdout=subprocess.DEVNULL)
    floors = {r["command"]: {"mean_s": r["mean"], "stddev_s": r["stddev"], "median_s": r["median"]}
              for r in json.loads(export.read_text())["results"]}
    corpus_geomean_s = geomean([r["clawc_mean_s"] for r in rows])
    hello_ratios = None
    if hello:
        h = floors["hello-world (static Foundation)"]["mean_s"]
        hello_ratios = {"example_compile": floors["clawc compile (example task)"]["mean_s"] / h,
                        "corpus_geomean": corpus_geomean_s / h, "version": floors["clawc --version"]["mean_s"] / h}
    return {
        "warmup": warmup, "runs": runs, "rows": rows, "floors": floors, "clawc_corpus_geomean_s": corpus_geomean_s,
        "against_hello": hello_ratios,
        "geomean_ratio_mean": geomean([r["ratio_mean"] for r in rows]),
        "geomean_ratio_median": geomean([r["ratio_median"] for r in rows]),
        "min_ratio_mean": min(r["ratio_mean"] for r in rows),
    }


# ---------------------------------------------------------------------------------------------------------------
# Report


def fmt_s(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} µs"


def markdown(results: dict) -> str:
    out = []
    meta = results["meta"]
    v = meta["versions"]
    out.append(f"Measured {meta['date']} on {meta['machine']}; clawc at {meta.get('commit')} ({v['clawc']}, release "
               f"build), policy_sentry {v['policy_sentry']}, policyuniverse {v['policyuniverse']}, Python "
               f"{meta['python']}, {v.get('hyperfine') or 'no hyperfine'}; corpus seed {meta['seed']}, {meta['cases']} "
               f"cases; load average {meta['load_average_at_start'][0]:.1f} at the start, "
               f"{meta['load_average_at_end'][0]:.1f} at the end; {meta['seconds']} s in all.\n")
    wp = results.get("whole_process")
    if wp:
        out.append(f"### Whole process: `clawc compile` against `policy_sentry write-policy` (hyperfine, "
                   f"{wp['warmup']} warm-up runs, {wp['runs']} runs, both commands in one invocation per case)\n")
        out.append("| case | services | targets | input pairs | clawc mean ± sd | policy_sentry mean ± sd | ratio (means) | ratio (medians) |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in wp["rows"]:
            out.append(f"| {r['case']} | {r['services']} | {r['targets']} | {r['input_pairs']} | "
                       f"{fmt_s(r['clawc_mean_s'])} ± {fmt_s(r['clawc_stddev_s'])} | "
                       f"{fmt_s(r['policy_sentry_mean_s'])} ± {fmt_s(r['policy_sentry_stddev_s'])} | "
                       f"{r['ratio_mean']:.1f}× | {r['ratio_median']:.1f}× |")
        out.append(f"| **geometric mean** | | | | | | **{wp['geomean_ratio_mean']:.1f}×** | **{wp['geomean_ratio_median']:.1f}×** |\n")
        if wp.get("floors"):
            f = wp["floors"]
            out.append("Process start alone (same hyperfine settings, one invocation): " + ", ".join(
                f"`{k}` {fmt_s(v['mean_s'])} ± {fmt_s(v['stddev_s'])}" for k, v in f.items()) + ".\n")
        if wp.get("against_hello"):
            a = wp["against_hello"]
            out.append(f"Against the static Foundation hello-world (means): the example compile {a['example_compile']:.2f}×, "
                       f"`clawc --version` {a['version']:.2f}×, and the corpus cases' geometric mean "
                       f"({fmt_s(wp['clawc_corpus_geomean_s'])}, timed in the runs above, not in the same invocation) "
                       f"{a['corpus_geomean']:.2f}×.\n")
    ip = results.get("in_process")
    if ip:
        out.append("### In process, per policy\n")
        out.append("| what | cases | median | geometric mean | fastest | slowest |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        labels = {"policy_sentry": "policy_sentry `write_policy_with_template(cfg)`",
                  "policy_sentry_min0": "policy_sentry `write_policy_with_template(cfg, 0)` (minimize 0)",
                  "policyuniverse_min0": "policyuniverse `minimize_policy(policy, minchars=0)`"}
        for tool, s in ip["summary"].items():
            out.append(f"| {labels[tool]} | {s['cases']} | {fmt_s(s['median_s'])} | {fmt_s(s['geomean_s'])} | "
                       f"{fmt_s(s['min_s'])} | {fmt_s(s['max_s'])} |")
        sw = results.get("clawc_warm")
        if sw:
            out.append(f"| clawc warm compile (Benchmarks: `compile: one task, warm rules`, log-analysis task; "
                       f"p50 / p99 of {sw.get('samples')} samples) | 1 | {fmt_s(sw['p50_s'])} | | | p99 {fmt_s(sw['p99_s'])} |")
        out.append("")
    sz = results["sizes"]["summary"]
    out.append("### Policy size after minimization, and what it grants\n")
    out.append(f"Characters of the minified JSON. \"common\": the {sz['cases_common']} cases (of {sz['cases']}) where "
               f"every tool but clawc's default run produced a policy (policyuniverse fails on the others).\n")
    out.append("| tool | policies | total chars, common | total chars, all | median chars | fit 2,048 | use action wildcards | grant beyond input | resources wider | miss input grants | failures |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")

    def num(v) -> str:
        return "—" if v is None else f"{v:,.0f}"

    for tool, _ in TOOLS:
        s = sz[tool]
        errs = "; ".join(f"{k} ×{v}" for k, v in s["errors"].items()) or "—"
        out.append(f"| {s['label']} | {s['cases_with_output']} | {num(s['total_chars_common'])} | "
                   f"{num(s['total_chars_all'])} | {num(s['median_chars'])} | {s['fits_2048']} | "
                   f"{s['uses_action_wildcards']} | {s['grants_beyond_input']} | {s['wider_resources_cases']} | "
                   f"{s['misses_input']} | {errs} |")
    out.append("")
    for tool, _ in TOOLS:
        ex = sz[tool]["beyond_input_example"]
        if ex:
            out.append(f"- {sz[tool]['label']}: e.g. `{ex['case']}` grants {ex['extra_action_count']} action(s) "
                       f"outside the input ({', '.join(f'`{a}`' for a in ex['extra_actions'][:5])}"
                       f"{', ...' if ex['extra_action_count'] > 5 else ''}) through "
                       f"{', '.join(f'`{w}`' for w in ex['wildcards'][:5]) or 'no wildcard'}"
                       f"{'; wider resources ' + ', '.join(f'`{r}`' for r in ex['wider_resources']) if ex['wider_resources'] else ''}.")
        mx = sz[tool]["misses_example"]
        if mx:
            out.append(f"- {sz[tool]['label']}: misses input grants, e.g. `{mx['case']}`: {mx['pairs']}.")
    h = sz["clawc_smallest_vs_policyuniverse"]
    out.append(f"\nclawc's smallest against policyuniverse, case by case ({h['cases']} cases where both produced a policy): "
               f"clawc smaller in {h['clawc_smaller']}, equal in {h['equal']}, larger in {h['clawc_larger']}; "
               f"total {h['clawc_total']:,} against {h['policyuniverse_total']:,} characters.")
    h = sz["clawc_smallest_vs_policy_sentry_min0"]
    out.append(f"clawc's smallest against policy_sentry --minimize 0 ({h['cases']} cases): "
               f"clawc smaller in {h['clawc_smaller']}, equal in {h['equal']}, larger in {h['clawc_larger']}; "
               f"total {h['clawc_total']:,} against {h['policy_sentry_total']:,} characters.")
    for tool, cases in sz["clawc_refuses_other_fits"].items():
        if cases:
            out.append(f"Cases clawc refuses (policy-too-large) where {sz[tool]['label']} fits 2,048: "
                       f"{len(cases)} ({', '.join(cases[:5])}).")
    return "\n".join(out) + "\n"


def sizes_markdown(rows: dict) -> str:
    """Per case: characters of each tool's policy (`X` no policy, `+` grants beyond the input)."""
    out = ["| case | " + " | ".join(t for t, _ in TOOLS) + " |", "| --- |" + " ---: |" * len(TOOLS)]
    for name, row in rows.items():
        cells = []
        for tool, _ in TOOLS:
            r = row[tool]
            cells.append("X" if not r["ok"] else f"{r['chars']:,}{' +' if r['extra_pairs'] else ''}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def git_commit() -> str | None:
    res = subprocess.run(["git", "-C", str(G.REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if res.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(G.REPO), "status", "--porcelain", "--", "Sources", "Package.swift"],
                           capture_output=True, text=True).stdout.strip()
    return res.stdout.strip() + (" (Sources modified)" if dirty else "")


def binary_stale(clawc: str) -> bool:
    built = Path(clawc).stat().st_mtime
    return any(p.stat().st_mtime > built for p in (G.REPO / "Sources").rglob("*.swift"))


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} x {platform.machine()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(HERE / "out" / "corpus"))
    ap.add_argument("--clawc", required=True, help="the release clawc binary")
    ap.add_argument("--policy-sentry", required=True, help="the policy_sentry command (from the venv)")
    ap.add_argument("--subset", type=int, default=10, help="cases timed whole-process with hyperfine")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5, help="timeit rounds per case in process")
    ap.add_argument("--no-hyperfine", action="store_true", help="time whole processes in Python instead")
    ap.add_argument("--hello", help="a static Foundation hello-world binary, timed beside clawc (bench/hello)")
    ap.add_argument("--swift-bench", action="store_true", help="run clawc's warm-compile benchmark (Benchmarks/)")
    ap.add_argument("--limit", type=int, help="only the first N cases (a quick check of the script)")
    ap.add_argument("--out", default=str(HERE / "out" / "results.json"))
    args = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    global OUT
    OUT = Path(args.out).resolve().parent
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((Path(args.corpus) / "corpus.json").read_text())
    corpus = manifest["cases"][: args.limit] if args.limit else manifest["cases"]
    versions = {}
    for pkg in ("policy_sentry", "policyuniverse"):
        from importlib.metadata import version
        versions[pkg] = version(pkg.replace("_", "-"))
    versions["clawc"] = subprocess.run([args.clawc, "--version"], capture_output=True, text=True).stdout.strip()
    hf = subprocess.run(["hyperfine", "--version"], capture_output=True, text=True) if not args.no_hyperfine else None
    versions["hyperfine"] = hf.stdout.strip() if hf else None
    results = {"meta": {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine(), "seed": manifest["seed"],
        "cases": len(corpus), "versions": versions, "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(), "commit": git_commit(),
        "clawc_binary_older_than_sources": binary_stale(args.clawc),
    }}
    if results["meta"]["clawc_binary_older_than_sources"]:
        log("warning: the clawc binary is older than some file in Sources/: rebuild it for current figures")

    started = time.time()
    rows = sizes(corpus, args.clawc, log)
    results["sizes"] = {"summary": size_summary(rows), "per_case": rows}
    if args.no_hyperfine:
        results["whole_process"] = whole_process_python(corpus, args.clawc, args.policy_sentry, args.subset,
                                                        args.warmup, args.runs, log)
    else:
        results["whole_process"] = whole_process(corpus, args.clawc, args.policy_sentry, args.subset, args.warmup,
                                                 args.runs, log, hello=args.hello)
    results["in_process"] = in_process(corpus, args.repeat, log)
    if args.swift_bench:
        results["clawc_warm"] = swift_benchmark(log)
    results["meta"]["seconds"] = round(time.time() - started)
    results["meta"]["load_average_at_end"] = os.getloadavg()

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=list) + "\n")
    md = markdown(results)
    (Path(args.out).parent / "results.md").write_text(md)
    (Path(args.out).parent / "sizes.md").write_text(sizes_markdown(rows))
    print(md)
    return 0


def whole_process_python(corpus, clawc, policy_sentry, count, warmup, runs, log) -> dict:
    """Without hyperfine: the two commands alternated, `runs` times each after `warmup`, timed in Python."""
    rows = []
    for case in pick_subset(corpus, count):
        d = Path(case["dir"])
        clawc_cmd = [clawc, "compile", "--rules", str(d / "rules"), "--task", str(d / "task.yaml")]
        if clawc_compile(clawc, d).returncode != 0:
            clawc_cmd += ["--max-chars", "100000"]
        ps_cmd = [policy_sentry, "write-policy", "--input-file", str(d / "template.yml")]
        times = {"clawc": [], "policy_sentry": []}
        for i in range(warmup + runs):
            for name, cmd in (("clawc", clawc_cmd), ("policy_sentry", ps_cmd)):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if i >= warmup:
                    times[name].append(time.perf_counter() - t0)
        c, p = times["clawc"], times["policy_sentry"]
        rows.append({
            "case": case["name"], "services": case["services"], "targets": case["targets"],
            "input_pairs": case["input_pairs"], "clawc_cmd": shlex.join(clawc_cmd), "policy_sentry_cmd": shlex.join(ps_cmd),
            "clawc_mean_s": statistics.mean(c), "clawc_stddev_s": statistics.stdev(c), "clawc_median_s": statistics.median(c),
            "policy_sentry_mean_s": statistics.mean(p), "policy_sentry_stddev_s": statistics.stdev(p),
            "policy_sentry_median_s": statistics.median(p),
            "ratio_mean": statistics.mean(p) / statistics.mean(c), "ratio_median": statistics.median(p) / statistics.median(c),
        })
        log(f"timed {case['name']}: ratio {rows[-1]['ratio_mean']:.1f}x")
    return {"warmup": warmup, "runs": runs, "rows": rows, "tool": "python",
            "geomean_ratio_mean": geomean([r["ratio_mean"] for r in rows]),
            "geomean_ratio_median": geomean([r["ratio_median"] for r in rows]),
            "min_ratio_mean": min(r["ratio_mean"] for r in rows)}


if __name__ == "__main__":
    sys.exit(main())
