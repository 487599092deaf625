"""``kiosk``: the command line of the kiosk (chat, ask) and its machine interfaces (nlu, faq, tickets).

The commands that open the touchscreen (``run``, ``demo``) belong to the UI, which sits above the kiosk's code:
``kiosk_ui.cli`` adds them to this group, and the ``kiosk`` console script starts there.
Machine-readable output (JSON lines) goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

import click

from firmware_app.app import Kiosk, build_nlu
from firmware_app.asr.cli import asr, listen
from firmware_app.audio.cli import audio, wake
from firmware_app.config import KioskSettings, load_settings
from firmware_app.doctor import doctor
from firmware_app.events import Language
from firmware_app.inference.manifest import ModelIntegrityError
from firmware_app.inference.runtime import use_runtime
from firmware_app.logs import configure_logging
from firmware_app.packs import PackError, load_pack
from firmware_app.privacy_cli import audit_command, privacy
from firmware_app.reply_text import format_reply
from firmware_app.sync.cli import sync
from firmware_app.tickets.store import wire_json
from firmware_app.vision.cli import vision
from kiosk_link import wire


def settings_of(ctx: click.Context) -> KioskSettings:
    """The settings the ``kiosk`` group loaded, for its commands (and those ``kiosk_ui.cli`` adds)."""
    return ctx.obj["settings"]


class KioskGroup(click.Group):
    """Turns the kiosk's expected failures (bad pack, missing model, bad config) into one clear line."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (PackError, ModelIntegrityError, FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=KioskGroup)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the kiosk database lives.")
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING...")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, log_level: str | None) -> None:
    """Kestrel Bank customer-service kiosk."""
    overrides: dict[str, object] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if log_level:
        overrides["log_level"] = log_level
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    use_runtime(settings.inference.runtime)
    ctx.obj = {"settings": settings}


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Reply event as JSON.")
@click.pass_context
def ask(ctx: click.Context, question: str, as_json: bool) -> None:
    """Answer one question, as a new customer would get it."""
    kiosk = Kiosk(settings_of(ctx))
    session, _ = kiosk.start_session()
    reply = kiosk.handle_text(session, question)
    degraded = kiosk.nlu.degraded
    if as_json:
        # Only a degraded kiosk adds the key: the Reply event's JSON is otherwise unchanged.
        record = {**reply.to_dict(), "degraded": list(degraded)} if degraded else reply.to_dict()
        click.echo(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(format_reply(reply))
    if degraded:
        click.echo(degraded_note(degraded), err=True)
    kiosk.end_session(session, "reset")
    kiosk.close()


@main.command()
@click.pass_context
def chat(ctx: click.Context) -> None:
    """An interactive text conversation (empty line or Ctrl-D to quit)."""
    kiosk = Kiosk(settings_of(ctx))
    session, greeting = kiosk.start_session()
    click.echo(format_reply(greeting))
    while not session.ended:
        try:
            text = click.prompt("You", default="", show_default=False, prompt_suffix="> ")
        except (EOFError, click.Abort):
            break
        if not text.strip():
            break
        click.echo(format_reply(kiosk.handle_text(session, text)))
    if not session.ended:
        kiosk.end_session(session, "reset")
    kiosk.close()


@main.group()
def nlu() -> None:
    """Text understanding, as the evaluation reads it."""


@nlu.command("predict")
@click.pass_context
def nlu_predict(ctx: click.Context) -> None:
    """Read one utterance per line on stdin; write one JSON object per line."""
    settings = settings_of(ctx)
    engine = build_nlu(settings, load_pack(settings.pack_dir))
    for line in _stdin_lines():
        started = time.perf_counter()
        result = engine.understand(line.rstrip("\n")).result
        record = {
            "text": result.text,
            "intent": result.intent,
            "confidence": result.confidence,
            "in_scope_score": result.in_scope_score,
            "language": result.language,
            "entities": [{"kind": e.kind, "text": e.text, "value": e.value} for e in result.entities],
            "sentiment": result.sentiment,
            "frustrated": result.frustrated,
            "dialogue_act": result.dialogue_act,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if engine.degraded:
            record["degraded"] = engine.degraded
        click.echo(json.dumps(record, ensure_ascii=False))


@nlu.command("eval")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="CSV with a text column and a label column (label/category/intent); 'oos' marks out-of-scope rows.",
)
@click.pass_context
def nlu_eval(ctx: click.Context, csv_path: Path) -> None:
    """Accuracy and out-of-scope numbers on a labelled CSV."""
    from firmware_app.nlu.evaluation import evaluate_rows, read_labelled_csv

    settings = settings_of(ctx)
    engine = build_nlu(settings, load_pack(settings.pack_dir))
    rows = read_labelled_csv(csv_path)
    click.echo(json.dumps(evaluate_rows(engine, rows), indent=1))


@main.command()
@click.pass_context
def converse(ctx: click.Context) -> None:
    """Scripted visits, one JSON object per stdin line; one JSON line per turn (CONVERSATION_TESTS.md).

    Tickets go to a scratch database unless --data-dir is given."""
    from firmware_app.converse import Conversations, dumps

    data_dir = ctx.find_root().params.get("data_dir")
    conversations = Conversations(settings_of(ctx), data_dir)
    try:
        for record in conversations.play(_stdin_lines()):
            click.echo(dumps(record))
    finally:
        conversations.close()


def degraded_note(degraded: tuple[str, ...]) -> str:
    """The line on stderr that says the answer came without a model (``kiosk doctor`` says which file and why)."""
    return (
        f"Note: degraded ({', '.join(degraded)}): the intent model could not be loaded, so questions are read by "
        "keyword search; run `kiosk doctor`"
    )


def _stdin_lines() -> TextIO:
    """Standard input as text that cannot raise on bad bytes (invalid UTF-8 becomes U+FFFD)."""
    return open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)


@main.group()
def faq() -> None:
    """The knowledge store."""


@faq.command("search")
@click.argument("query")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Default: detected from the query.")
@click.option("--limit", default=5, show_default=True)
@click.pass_context
def faq_search(ctx: click.Context, query: str, lang: str | None, limit: int) -> None:
    """Search the FAQ (word index, trigram index for Chinese, and meaning)."""
    from firmware_app.nlu.language import detect_language

    kiosk = Kiosk(settings_of(ctx))
    language: Language = "zh" if lang == "zh" else "en" if lang == "en" else detect_language(query)
    for hit in kiosk.knowledge.search(query, language, limit=limit):
        click.echo(
            json.dumps(
                {
                    "id": hit.entry_id,
                    "kind": hit.kind,
                    "question": hit.question,
                    "similarity": round(hit.similarity, 3),
                    "answer": hit.answer,
                },
                ensure_ascii=False,
            )
        )
    kiosk.close()


@main.group()
def tickets() -> None:
    """Tickets filed by this kiosk."""


@tickets.command("list")
@click.option("--limit", default=20, show_default=True)
@click.option("--status", type=click.Choice(wire.TICKET_STATUSES), default=None)
@click.pass_context
def tickets_list(ctx: click.Context, limit: int, status: str | None) -> None:
    kiosk = Kiosk(settings_of(ctx))
    for t in kiosk.tickets.list(limit=limit, status=status):
        created = f"{t.created_at:%Y-%m-%dT%H:%M:%S}"
        click.echo(f"{t.reference}  {created}  {t.priority:<7} {t.status:<7} {t.type:<11} {t.summary}")
    kiosk.close()


@tickets.command("show")
@click.argument("ticket")
@click.pass_context
def tickets_show(ctx: click.Context, ticket: str) -> None:
    """One ticket (by reference such as KB-1A2B3C4D, or id) as JSON."""
    kiosk = Kiosk(settings_of(ctx))
    found = kiosk.tickets.get(ticket)
    kiosk.close()
    if found is None:
        raise click.ClickException(f"no ticket {ticket}")
    click.echo(wire_json(found, indent=1))


main.add_command(wake)
main.add_command(audio)
main.add_command(asr)
main.add_command(listen)
main.add_command(vision)
main.add_command(sync)
main.add_command(doctor)
main.add_command(privacy)
main.add_command(audit_command)


if __name__ == "__main__":
    main()
