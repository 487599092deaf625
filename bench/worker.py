"""Running a benchmark's measurements in a child process (so it can pin itself to one core before anything
starts threads) and naming the command that produced a result."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_worker(module: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """``python -m bench.<module> --worker ARGS``; its last stdout line is the JSON result."""
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--worker", *args],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def harness_command() -> str:
    """The command line that is running now, as the report should quote it."""
    return " ".join(["python", "-m", f"bench.{Path(sys.argv[0]).stem}", *sys.argv[1:]])


def bench_main(worker: Callable[[], dict[str, Any]], run: Callable[[], dict[str, Any]]) -> None:
    """A benchmark module run as a script: ``--worker`` (the child process) prints its result as one JSON line
    for ``run_worker``; otherwise the harness side runs and prints its result."""
    if "--worker" in sys.argv:
        print(json.dumps(worker()))
    else:
        print(json.dumps(run(), indent=1))
