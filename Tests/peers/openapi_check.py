#!/usr/bin/env python3
"""Checks broker answers against docs/openapi.yaml, for the clawc tests.

    python3 Tests/peers/openapi_check.py < answers.jsonl

Each stdin line is `{"method": "POST", "path": "/v1/credentials", "status": 400, "content_type": "...", "body": "..."}`.
For each, the operation and the response for that status must be in the document, and a JSON body must validate
against the response's schema (OpenAPI 3.1, JSON Schema 2020-12, with openapi-schema-validator). Prints one line per
answer that does not conform and exits 1 if any did; exits 0 and prints `ok N` otherwise.
"""
import json
import sys
from pathlib import Path

import yaml
from openapi_schema_validator import OAS31Validator

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        node = SPEC
        for part in parts:
            node = node[part]
    return node


def inline(node):
    """The schema with every local `$ref` replaced by what it names (the document's schemas are not recursive)."""
    node = resolve(node)
    if isinstance(node, dict):
        return {key: inline(value) for key, value in node.items()}
    if isinstance(node, list):
        return [inline(item) for item in node]
    return node


def check(answer):
    operation = SPEC["paths"].get(answer["path"], {}).get(answer["method"].lower())
    if operation is None:
        return f"{answer['method']} {answer['path']}: not in the document" if answer["status"] not in (404, 405) else None
    response = operation["responses"].get(str(answer["status"]))
    if response is None:
        return f"{answer['method']} {answer['path']}: status {answer['status']} is not documented"
    response = resolve(response)
    content = response.get("content", {})
    media = (answer.get("content_type") or "").split(";")[0].strip()
    if media not in content:
        return f"{answer['method']} {answer['path']} {answer['status']}: content type {media!r} is not documented"
    if media != "application/json":
        return None
    try:
        body = json.loads(answer["body"])
    except ValueError as error:
        return f"{answer['method']} {answer['path']} {answer['status']}: the body is not JSON ({error})"
    schema = inline(content[media]["schema"])
    errors = sorted(OAS31Validator(schema).iter_errors(body), key=str)
    if errors:
        return f"{answer['method']} {answer['path']} {answer['status']}: {errors[0].message}"
    return None


def main():
    problems, count = [], 0
    for line in sys.stdin:
        if line.strip():
            count += 1
            problem = check(json.loads(line))
            if problem:
                problems.append(problem)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"ok {count}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
