#!/usr/bin/env python3
"""Runs one command and reports what the kernel counted for it alone: CPU time and peak resident memory.

    python3 Tests/peers/measure.py REPORT -- COMMAND [ARGS ...]

The command inherits stdin, stdout, stderr and the environment. Once it has started, its pid is written to
REPORT.pid; when it has ended, REPORT holds one JSON object:

    {"pid": N, "user": seconds, "system": seconds, "maxrss_kib": N}

and this script exits with the command's status (128 + N for a signal N).

Why a separate, small process: Linux carries the peak RSS of the address space a process had before `exec` into
its `ru_maxrss`, and a child started with posix_spawn or vfork from a large test process starts out in that
process's address space, so it would "peak" at the test process's size. Spawned from this script, the floor is
this script's own few MiB.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage: measure.py REPORT -- COMMAND [ARGS ...]", file=sys.stderr)
        return 2
    report, argv = sys.argv[1], sys.argv[3:]
    pid = os.posix_spawn(argv[0], argv, os.environ)
    with open(report + ".pid", "w", encoding="ascii") as handle:
        handle.write(str(pid))
    _, status, usage = os.wait4(pid, 0)
    maxrss_kib = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss  # bytes there, KiB here
    with open(report, "w", encoding="ascii") as handle:
        json.dump({"pid": pid, "user": usage.ru_utime, "system": usage.ru_stime, "maxrss_kib": maxrss_kib}, handle)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
