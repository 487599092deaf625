"""The ``pcb`` profile's one error type: callers (the CLI, recognition) catch only this to turn an unusable image
pair or untrusted model files into a message instead of a crash."""

from __future__ import annotations


class PcbError(ValueError):
    """An image pair that cannot be inspected (unreadable, empty or too large), or model files that cannot be
    trusted (missing, or not the ones the manifest describes)."""
