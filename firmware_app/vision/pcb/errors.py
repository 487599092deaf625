"""The ``pcb`` profile's one error type: callers (the CLI, recognition) catch only this to turn an unusable image
pair or untrusted model files into a message instead of a crash."""

from __future__ import annotations


class PcbError(ValueError):
    """An image pair that cannot be inspected (unreadable, empty or too large), or model files that cannot be
    trusted (missing, or not the ones the manifest describes)."""

    reason: str | None = None  # a machine-readable reason for the CLI's JSON line, where there is one


class NotTheTemplateBoard(PcbError):
    """The test image does not show the template's board (another board, part of it, or no board at all), so
    its differences from the template are not defects (``board_check``)."""

    reason = "not_the_template_board"
