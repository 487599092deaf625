"""Does every runtime dependency install as a binary wheel on a 64-bit Arm kiosk (Raspberry Pi 4/5, Jetson)?

For CPython 3.11 (Debian 12 / Raspberry Pi OS bookworm), 3.12 (Ubuntu 24.04) and 3.13 (Debian 13 trixie /
Raspberry Pi OS trixie) on manylinux aarch64, this asks pip for a wheel, and only a wheel, of each runtime
dependency:

    pip download --only-binary=:all: --no-deps --implementation cp --python-version 3.13
                 --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 ...
                 --platform manylinux_2_36_aarch64 -d TMP 'REQUIREMENT'

pip does not widen a `manylinux_2_X` platform to the older glibc versions it also runs (it does so only for
manylinux2014/2010/1), so every glibc from 2.17 up to 2.36 is named: 2.36 is Debian 12's and Raspberry Pi OS
bookworm's, the oldest glibc of the machines these kiosks run on (Ubuntu 24.04 has 2.39, Debian 13 2.41; Jetson's
Ubuntu 22.04 has 2.35). The glibc each wheel needs is recorded, and the ones above 2.28 are marked.

The requirements are [project].dependencies in pyproject.toml, plus the two that scripts/setup.sh installs by
itself (silero-vad, and the hash-pinned Whisper weights of requirements/whisper-model.txt). Then the whole set is
resolved with its dependencies (`pip install --dry-run --report`, same flags) so that a transitive dependency
without a wheel shows up too.

    python -m bench.run --only wheels          # writes bench/results/wheels_aarch64.json and a REPORT.md section
    python -m bench.wheels_aarch64             # the same JSON and a table, without touching the report

"Missing" is a finding about the dependency, not a failure of this script: the report says what to do about it.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "wheels_aarch64.json"
PYTHONS = ("3.11", "3.12", "3.13")
OLDEST_GLIBC = 36  # Debian 12 bookworm / Raspberry Pi OS bookworm (2.36): the oldest of the kiosks' systems
PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{minor}_aarch64" for minor in range(17, OLDEST_GLIBC + 1)))
# What each requirement without an aarch64 wheel needs instead (kept next to the check so the report says it).
REMEDIES = {
    "pyaudio": "PyPI has no Linux wheel for any architecture (x86_64 builds it from its sdist too, which is why "
    "scripts/setup.sh installs portaudio19-dev): on a kiosk it builds the same way with apt's portaudio19-dev, "
    "python3-dev and gcc (build-essential). To need no compiler on the kiosk: build the aarch64 wheel once per "
    "Python (`pip wheel pyaudio==0.2.14` on an Arm builder) and ship it with the image, or move the audio I/O to "
    "sounddevice (a py3-none-any wheel over apt's libportaudio2, already installed as pocketsphinx's dependency) "
    "and drop PyAudio",
    "pocketsphinx": "5.1.1 has wheels for cp311 and cp313 but none for cp312, on x86_64 either: on Python 3.12 pip "
    "builds it from the sdist, which needs a C compiler on the machine (on x86_64 here it did, and pip cached the "
    "wheel); Python 3.11 and 3.13 need no compiler for it",
}


def setup_sh_requirements() -> list[str]:
    """The pinned `pip install ... "name==version"` lines of scripts/setup.sh that are not the project itself."""
    text = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    return [r for r in re.findall(r'--no-deps "([A-Za-z0-9_.-]+==[^"]+)"', text)]


def requirements() -> list[dict[str, Any]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [{"requirement": r, "source": "pyproject.toml"} for r in project["dependencies"]]
    found += [{"requirement": r, "source": "scripts/setup.sh"} for r in setup_sh_requirements()]
    found.append({"requirement": "-r requirements/whisper-model.txt", "source": "requirements/whisper-model.txt"})
    return found


def _name(requirement: str) -> str:
    if requirement.startswith("-r "):
        return Path(requirement[3:]).stem
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def _target_flags(python: str, platforms: tuple[str, ...]) -> list[str]:
    flags = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    for platform in platforms:
        flags += ["--platform", platform]
    return flags


def _requirement_args(requirement: str) -> list[str]:
    if requirement.startswith("-r "):
        return ["--require-hashes", "-r", str(ROOT / requirement[3:])]
    return [requirement]


def needed_glibc(wheel: str | None) -> str | None:
    """The lowest glibc a wheel's platform tags accept: 2.17 for manylinux2014, None for a pure-Python wheel."""
    if wheel is None:
        return None
    minors = [int(m) for m in re.findall(r"manylinux_2_(\d+)_", wheel)] + [17] * ("manylinux2014" in wheel)
    return f"2.{min(minors)}" if minors else None


def download(requirement: str, python: str, platforms: tuple[str, ...], folder: Path) -> dict[str, Any]:
    """`pip download` one requirement, wheels only, for that Python and platform; the wheel it got or why not."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check"]
    command += [*_target_flags(python, platforms), "-d", str(folder), *_requirement_args(requirement)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wheels = sorted(p.name for p in folder.glob("*.whl"))
    result: dict[str, Any] = {"ok": done.returncode == 0 and bool(wheels), "wheel": wheels[0] if wheels else None}
    result["seconds"] = round(time.monotonic() - started, 1)
    if not result["ok"]:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        result["error"] = " ".join(errors)[:500] or done.stderr.strip()[-500:]
    return result


def resolve_all(reqs: list[str], python: str, platforms: tuple[str, ...]) -> dict[str, Any]:
    """Resolve the whole set with its dependencies, wheels only (a dry run: pip reads wheel metadata)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
        command += ["--disable-pip-version-check", "--target", str(Path(tmp) / "target"), "--report", str(report)]
        command += [*_target_flags(python, platforms), *reqs]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            return {"ok": False, "error": " ".join(errors)[:800] or done.stderr.strip()[-800:]}
        installs = json.loads(report.read_text())["install"]
    wheels = sorted(Path(i["download_info"]["url"]).name for i in installs)
    return {"ok": True, "packages": len(wheels), "wheels": wheels}


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    reqs = requirements()
    results: dict[str, Any] = {
        "command": "pip download --only-binary=:all: --no-deps --implementation cp --python-version X.Y "
        f"--platform {PLATFORMS[0]} --platform {PLATFORMS[1]} ... --platform {PLATFORMS[-1]} -d TMP REQUIREMENT",
        "pip": subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=True
        ).stdout.split(" from ")[0],
        "when": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "platforms": list(PLATFORMS),
        "pythons": {},
    }
    with tempfile.TemporaryDirectory(prefix="wheels-aarch64-") as tmp:
        for python in PYTHONS:
            rows = []
            for i, req in enumerate(reqs):
                row = {"name": _name(req["requirement"]), **req}
                got = download(req["requirement"], python, PLATFORMS, Path(tmp) / python / str(i))
                row.update(got)
                row["glibc"] = needed_glibc(got["wheel"]) if got["ok"] else None
                if not got["ok"]:
                    row["remedy"] = REMEDIES.get(row["name"], "no aarch64 wheel: build from the sdist or pin a release")
                rows.append(row)
            # setup.sh installs its own two with --no-deps: only pyproject's are resolved with their dependencies.
            wheel_ok = [row["requirement"] for row in rows if row["ok"] and row["source"] == "pyproject.toml"]
            results["pythons"][python] = {
                "packages": rows,
                "ok": sum(r["ok"] for r in rows),
                "missing": [r["name"] for r in rows if not r["ok"]],
                # The ones that have a wheel, resolved with all their dependencies: does anything below lack one?
                "transitive": resolve_all(wheel_ok, python, PLATFORMS),
            }
    results["all_ok"] = all(not p["missing"] and p["transitive"]["ok"] for p in results["pythons"].values())
    return results


def report_section(r: dict[str, Any]) -> list[str]:
    pythons = list(r["pythons"])
    lines = [
        "",
        "## aarch64 wheels (Raspberry Pi OS, Debian 12 and 13, Ubuntu 24.04)",
        "",
        f"`{r['command']}` ({r['pip']}, {r['when']}), for each runtime dependency: the wheel pip got (and the "
        "glibc it needs where that is above 2.28), or **missing** when there is no aarch64 wheel for glibc <= 2.36.",
        "",
        "| requirement | " + " | ".join(f"CPython {p}" for p in pythons) + " |",
        "|---|" + "---|" * len(pythons),
    ]
    by_python = {p: {row["requirement"]: row for row in r["pythons"][p]["packages"]} for p in pythons}
    for row in r["pythons"][pythons[0]]["packages"]:
        cells = []
        for p in pythons:
            got = by_python[p][row["requirement"]]
            if got["ok"]:
                newer = f" (glibc {got['glibc']})" if got["glibc"] and got["glibc"] > "2.28" else ""
                cells.append(f"`{got['wheel']}`{newer}")
            else:
                cells.append("**missing**")
        lines.append(f"| `{row['requirement']}` | " + " | ".join(cells) + " |")
    lines.append("")
    for p in pythons:
        t = r["pythons"][p]["transitive"]
        what = f"{t['packages']} packages, all wheels" if t["ok"] else f"failed: {t['error']}"
        lines.append(f"- CPython {p}, the ones with a wheel resolved with their dependencies: {what}.")
    remedies = {row["name"]: row["remedy"] for p in pythons for row in r["pythons"][p]["packages"] if not row["ok"]}
    lines += [f"- {name}: {remedy}." for name, remedy in remedies.items()]
    return [*lines, ""]


def print_table(r: dict[str, Any]) -> None:
    for python, p in r["pythons"].items():
        print(f"CPython {python}, manylinux aarch64, glibc <= 2.{OLDEST_GLIBC}: {p['ok']}/{len(p['packages'])} wheels")
        for row in p["packages"]:
            status = "ok     " if row["ok"] else "MISSING"
            glibc = f"  [glibc {row['glibc']}]" if row.get("glibc") and row["glibc"] > "2.28" else ""
            print(f"  {status} {row['name']:<22} {row['wheel'] or row['error'][:90]}{glibc}")
        t = p["transitive"]
        print(f"  transitive: {str(t['packages']) + ' packages, all wheels' if t['ok'] else 'FAILED ' + t['error']}")


def main() -> None:
    results = run()
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print_table(results)
    print(f"written: {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
