"""How exposed the kiosk's services are: ``systemd-analyze security --offline=true`` on each unit in ``systemd/``.

The issue's target is an overall exposure of at most 3.0 ("OK") for ``kiosk.service``. The tests assert it
(``tests/test_systemd.py``) with the same functions; this records the per-unit numbers and the full tables.

    python -m bench.run --only systemd
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.worker import harness_command

UNITS_DIR = Path(__file__).resolve().parent.parent / "systemd"
UNITS = ("kiosk.service", "fleet.service")
EXPOSURE_TARGET = {"kiosk.service": 3.0}
_OVERALL = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)")


@dataclass(frozen=True)
class SecurityReport:
    unit: str
    exposure: float
    rating: str  # systemd's word for it: OK, MEDIUM, EXPOSED, UNSAFE
    table: str  # the full per-setting table, as systemd-analyze prints it


def systemd_analyze() -> str | None:
    return shutil.which("systemd-analyze")


def security_report(unit_file: Path) -> SecurityReport:
    """Score a unit file as written (``--offline=true`` reads the file, not a loaded unit: systemd >= 250)."""
    command = ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    text = done.stdout + done.stderr
    match = _OVERALL.search(text)
    if match is None:
        raise RuntimeError(f"no overall exposure in `{' '.join(command)}` (exit {done.returncode}):\n{text}")
    return SecurityReport(unit_file.name, float(match.group(1)), match.group(2), text.strip())


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True, check=True)
    reports = [security_report(UNITS_DIR / unit) for unit in UNITS]
    return {
        "command": harness_command(),
        "analyze_command": "systemd-analyze security --offline=true systemd/<unit>",
        "systemd": version.stdout.splitlines()[0],
        "units": [
            {
                "unit": r.unit,
                "exposure": r.exposure,
                "rating": r.rating,
                "target": EXPOSURE_TARGET.get(r.unit),
                "table": r.table,
            }
            for r in reports
        ],
    }


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## systemd hardening",
        "",
        f"`{r['command']}`: `{r['analyze_command']}` ({r['systemd']}); lower is better, 0-10.",
        "",
        "| unit | overall exposure | rating | target |",
        "|---|---|---|---|",
    ]
    for unit in r["units"]:
        target = f"<= {unit['target']}" if unit["target"] is not None else "-"
        lines.append(f"| {unit['unit']} | {unit['exposure']} | {unit['rating']} | {target} |")
    for unit in r["units"]:
        failing = [line.rstrip() for line in unit["table"].splitlines() if line.startswith("✗")]
        lines += ["", f"Settings that still cost exposure in {unit['unit']}:", "", "```", *failing, "```"]
    return lines
