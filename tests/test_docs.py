"""The README and docs/ as a new user reads them: the commands they show exist, and the examples load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from firmware_app.config import load_settings
from fleet.cli import main as fleet_main
from kiosk_ui.cli import main as kiosk_main
from provisioning.cli import main as provision_main
from provisioning.kiosk_toml import render
from provisioning.layout import Layout

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
PROGRAMS: dict[str, click.Group] = {"kiosk": kiosk_main, "fleet": fleet_main, "kiosk-provision": provision_main}


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == (
        "scripts/setup.sh test && .venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/python -m pytest -q"
        " && scripts/smoke.sh"
    )
    assert f"\n    {ci}\n" in README
    assert "\n    scripts/setup.sh && .venv/bin/kiosk demo --ui --screenshots demo-screens\n" in README


def documented_commands() -> list[tuple[str, ...]]:
    """The command words of every row of the README's command tables: `fleet ca init --out DIR` -> fleet ca init."""
    found = []
    for cell in re.findall(r"^\| `((?:\\\||[^|`])+)`", README, re.M):  # a cell may hold escaped pipes
        words: list[str] = []
        depth = 0  # inside a program's own [options], before its subcommand: `fleet [--db ...] serve`
        for word in cell.split():
            if len(words) == 1 and (depth or word.startswith("[")):
                depth += word.count("[") - word.count("]")
                continue
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        if words and words[0] in PROGRAMS:
            found.append(tuple(words))
    return found


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_every_command_in_the_readme_exists(words: tuple[str, ...]) -> None:
    command: click.Command = PROGRAMS[words[0]]
    for word in words[1:]:
        assert isinstance(command, click.Group), f"{' '.join(words)}: {command.name} takes no subcommand"
        sub = command.get_command(click.Context(command), word)
        assert sub is not None, f"{' '.join(words)}: no {word!r} under {command.name}"
        command = sub


def test_the_machine_interfaces_the_evaluation_reads_are_documented() -> None:
    for command in ("kiosk nlu predict", "kiosk converse", "kiosk asr transcribe", "kiosk wake scan"):
        assert f"| `{command}" in README, command
    for command in ("kiosk vision classify", "kiosk vision detect"):
        assert f"| `{command} --profile" in README, command


def test_the_configuration_example_loads_and_names_the_files_provisioning_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = re.search(r"```toml\n(.*?)```", OPERATIONS, re.S)
    assert example is not None
    path = tmp_path / "kiosk.toml"
    path.write_text(example.group(1))
    monkeypatch.setenv("KIOSK_CONFIG", str(path))
    settings = load_settings()  # every key is known: the settings refuse unknown ones
    written = tomllib.loads(render(Layout(Path("/")), "kiosk-doc-01", "mqtt.example.com", 8883))
    assert str(settings.updates.public_key) == written["updates"]["public_key"] == "/etc/kiosk/update-key.pem"
    for key in ("ca_file", "cert_file", "key_file", "sealing_key_file"):
        assert str(getattr(settings.sync, key)) == written["sync"][key], key
    assert f'public_key = "{written["updates"]["public_key"]}"' in README
