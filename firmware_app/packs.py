"""Domain packs: the content of one deployment (intents with examples and answers, FAQ, flows, acts).

A pack is a folder of YAML files that the fleet can replace as a unit; this module validates it with
pydantic so a broken pack is refused with a clear message before anything is installed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from firmware_app.events import Language

PACK_FILES = ("pack.yaml", "intents.yaml", "faq.yaml", "flows.yaml", "acts.yaml")
# Files a pack may leave out: guidance for technicians' photos only matters where the kiosk takes them.
OPTIONAL_PACK_FILES = ("guidance.yaml",)


class PackError(ValueError):
    """The pack folder is missing a file or a file does not match the schema."""


class Text(BaseModel):
    """A text in both kiosk languages."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)

    def get(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


class TextList(BaseModel):
    en: list[str] = []
    zh: list[str] = []

    def get(self, language: Language) -> list[str]:
        return self.zh if language == "zh" else self.en


class Steps(TextList):
    @model_validator(mode="after")
    def _same_length(self) -> Steps:
        if len(self.en) != len(self.zh):
            raise ValueError(f"steps differ in length: en {len(self.en)} vs zh {len(self.zh)}")
        return self


class Intent(BaseModel):
    id: str
    topic: str
    title: Text
    examples: list[str] = Field(min_length=1)
    examples_zh: list[str] = []
    answer: Text
    steps: Steps = Steps()
    follow_up: Text | None = None


class FaqEntry(BaseModel):
    id: str
    topic: str
    question: Text
    alternatives: TextList = TextList()
    answer: Text
    steps: Steps = Steps()


class Slot(BaseModel):
    """One piece of information a flow asks for.

    ``kind`` says how it is filled: an entity kind found by the entity extractor (``card_last4``, ``date``,
    ``time``, ``phone``...), ``text`` (the whole reply), or ``choice`` (one of ``choices``).
    """

    name: str
    kind: str
    prompt: Text
    reprompt: Text
    choices: dict[str, TextList] = {}
    validate_as: Literal["future_opening_day", "opening_time"] | None = None
    input: Literal["numpad", "keyboard", "date", "time", "choice"] = "keyboard"


class TicketSpec(BaseModel):
    type: str
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    summary: Text


class Flow(BaseModel):
    id: str
    title: Text
    trigger_intents: list[str] = []
    trigger_acts: list[str] = []
    # FAQ entries whose answer offers this flow: "yes please" or "I'd like to make one" right after one starts it.
    offered_by: list[str] = []
    intro: Text | None = None
    slots: list[Slot] = Field(min_length=1)
    confirm: Text
    ask_change: Text
    ticket: TicketSpec
    done: Text
    cancelled: Text


class Acts(BaseModel):
    """Dialogue acts (yes, no, cancel, ask for a person...) as regular expressions per language."""

    patterns: dict[str, TextList]


class OpeningHours(BaseModel):
    """Branch opening hours per weekday (0 = Monday), "HH:MM" strings; a missing day is closed."""

    days: dict[int, tuple[str, str]]


class Messages(BaseModel):
    """The kiosk's own sentences (not answers): greetings, not understood, hand-off..."""

    disclosure: Text
    greeting: Text
    how_can_i_help: Text
    thanks: Text
    goodbye: Text
    not_understood: Text
    out_of_scope: Text
    faq_suggestions: Text
    handoff: Text
    flow_busy: Text
    nothing_to_cancel: Text
    empty_input: Text
    too_long: Text
    follow_up_missing: Text
    full_card_number: Text
    handoff_pending: Text
    sorry_frustrated: Text
    anything_else: Text


class PackManifest(BaseModel):
    id: str
    version: str
    name: Text
    languages: list[Language]
    intent_model: str
    opening_hours: OpeningHours
    topics: dict[str, Text]
    messages: Messages


class GuidanceEntry(BaseModel):
    """What a defect the camera found means and what the technician does about it (not a customer answer:
    these never enter the FAQ search)."""

    id: str
    title: Text
    meaning: Text
    steps: Steps

    @model_validator(mode="after")
    def _a_few_steps(self) -> GuidanceEntry:
        if not 2 <= len(self.steps.en) <= 4:
            raise ValueError(f"guidance {self.id}: give 2 to 4 steps, not {len(self.steps.en)}")
        return self


class LabelGuidance(BaseModel):
    """One label of a profile: its name on the screen and the guidance entries it links to."""

    name: Text
    entries: list[str] = Field(min_length=1)


class ProfileGuidance(BaseModel):
    """A product profile (a model in the model manifest): its name on the screen and its labels' guidance."""

    name: Text
    labels: dict[str, LabelGuidance] = {}


class Guidance(BaseModel):
    """``guidance.yaml``: profile -> label -> guidance entry ids, and the entries themselves."""

    profiles: dict[str, ProfileGuidance] = {}
    entries: list[GuidanceEntry] = []

    @model_validator(mode="after")
    def _linked(self) -> Guidance:
        ids = [entry.id for entry in self.entries]
        duplicates = {x for x in ids if ids.count(x) > 1}
        if duplicates:
            raise ValueError(f"duplicate guidance ids: {sorted(duplicates)}")
        for profile, spec in self.profiles.items():
            for label, linked in spec.labels.items():
                unknown = set(linked.entries) - set(ids)
                if unknown:
                    raise ValueError(f"guidance for {profile}/{label} links to unknown entries {sorted(unknown)}")
        return self

    def label(self, profile: str, label: str) -> LabelGuidance | None:
        spec = self.profiles.get(profile)
        return spec.labels.get(label) if spec is not None else None

    def entries_for(self, profile: str, label: str) -> tuple[GuidanceEntry, ...]:
        """The entries linked to ``label`` of ``profile``, in the order linked (none for an unknown label)."""
        linked = self.label(profile, label)
        by_id = {entry.id: entry for entry in self.entries}
        return tuple(by_id[id] for id in linked.entries) if linked is not None else ()


class Pack(BaseModel):
    """A loaded, validated pack."""

    path: Path
    manifest: PackManifest
    intents: list[Intent]
    faq: list[FaqEntry]
    flows: list[Flow]
    acts: Acts
    content_sha256: str
    guidance: Guidance = Guidance()

    def intent(self, intent_id: str) -> Intent | None:
        return next((i for i in self.intents if i.id == intent_id), None)

    def flow(self, flow_id: str) -> Flow | None:
        return next((f for f in self.flows if f.id == flow_id), None)

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        ids = [i.id for i in self.intents] + [f.id for f in self.faq]
        duplicates = {x for x in ids if ids.count(x) > 1}
        if duplicates:
            raise ValueError(f"duplicate entry ids: {sorted(duplicates)}")
        known = {i.id for i in self.intents}
        for flow in self.flows:
            unknown = set(flow.trigger_intents) - known
            if unknown:
                raise ValueError(f"flow {flow.id} triggers on unknown intents {sorted(unknown)}")
        entries: list[Intent | FaqEntry] = [*self.intents, *self.faq]
        for entry in entries:
            if entry.topic not in self.manifest.topics:
                raise ValueError(f"{entry.id} has unknown topic {entry.topic!r}")
        return self


# libyaml's C parser when PyYAML was built with it (the Debian and PyPI wheels are): the bank pack loads in 0.03 s
# instead of 0.35 s, which every kiosk start and every command pays. Both accept the same safe subset.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError as exc:
        raise PackError(f"pack file missing: {path}") from exc
    except yaml.YAMLError as exc:
        raise PackError(f"{path} is not valid YAML: {exc}") from exc


def pack_sha256(path: Path) -> str:
    """Hash of the pack's files, so an install can tell whether the content changed."""
    digest = hashlib.sha256()
    present = [name for name in OPTIONAL_PACK_FILES if (path / name).is_file()]
    for name in (*PACK_FILES, *present):
        digest.update(name.encode())
        digest.update((path / name).read_bytes())
    return digest.hexdigest()


def load_pack(path: Path) -> Pack:
    """Read and validate the pack in ``path``; raises ``PackError`` with the reason."""
    if not path.is_dir():
        raise PackError(f"pack folder not found: {path}")
    raw: dict[str, Any] = {name: _read_yaml(path / name) for name in PACK_FILES}
    guidance_path = path / "guidance.yaml"
    raw["guidance.yaml"] = _read_yaml(guidance_path) if guidance_path.is_file() else None
    try:
        return Pack(
            path=path,
            manifest=PackManifest.model_validate(raw["pack.yaml"]),
            intents=[Intent.model_validate(x) for x in raw["intents.yaml"] or []],
            faq=[FaqEntry.model_validate(x) for x in raw["faq.yaml"] or []],
            flows=[Flow.model_validate(x) for x in raw["flows.yaml"] or []],
            acts=Acts.model_validate(raw["acts.yaml"]),
            content_sha256=pack_sha256(path),
            guidance=Guidance.model_validate(raw["guidance.yaml"] or {}),
        )
    except ValidationError as exc:
        raise PackError(f"pack {path} is invalid:\n{exc}") from exc
