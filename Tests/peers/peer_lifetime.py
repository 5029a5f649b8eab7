"""Process lifetime shared by the test peers: a peer never outlives the test run that started it."""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any


def _exit_now(*_: Any) -> None:
    os._exit(0)


def _watch_stdin() -> None:
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def never_outlive_parent() -> None:
    """Exit on SIGTERM/SIGINT, and within half a second of the parent process going away."""
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True, name="parent-watch").start()


def exit_when_stdin_closes() -> None:
    """Exit when the parent closes our stdin (or dies): call after the ready line is printed."""
    threading.Thread(target=_watch_stdin, daemon=True, name="stdin-watch").start()
