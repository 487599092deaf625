"""A reply as text, for the front ends that print one (``kiosk ask``, ``kiosk chat``, ``kiosk demo``).

A module of its own so that both the command line and the demo script use it without importing each other.
"""

from __future__ import annotations

from firmware_app.events import Reply


def format_reply(reply: Reply) -> str:
    """A reply as the customer would read it on screen."""
    lines = [f"  {reply.disclosure}: {reply.text}"]
    if reply.card and reply.card.steps:
        lines += [f"      {n}. {step}" for n, step in enumerate(reply.card.steps, 1)]
    if reply.card and reply.card.reference:
        lines.append(f"      Reference: {reply.card.reference}")
    lines += [f"      - {s}" for s in reply.suggestions]
    return "\n".join(lines)
