"""Running a benchmark's measurements in a child process (so it can pin itself to one core before anything
starts threads) and naming the command that produced a result."""

from __future__ import annotations

import json
import subprocess
import sys
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
