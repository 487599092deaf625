"""Routing tables: the model a received payload must validate as, and the handler that then takes it.

Both ends look up what arrived (the kiosk: the exact topic; the backend: the kind of a device topic) in a table
of ``Route`` entries instead of an if/elif chain over topic names, as paho's ``message_callback_add`` maps topic
filters to callbacks (``paho.mqtt.matcher``): a new message is one entry, and no handler ever sees a payload that
did not validate as its model.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, Generic, ParamSpec, TypeVar

from kiosk_link.wire import WireError, WireModel, parse

M = TypeVar("M", bound=WireModel)
P = ParamSpec("P")
# What a table maps a topic to where the handler needs nothing but the payload: a ``Route`` taking no more, or a
# handler that reads the raw payload itself (a signed release, which is verified before it is parsed).
Receiver = Callable[[bytes | bytearray], None]


@dataclass(frozen=True)
class Route(Generic[M, P]):
    """A payload is parsed as ``model`` and handed to ``handle``, with whatever the table's owner passes along
    (the backend: where it came from). A refusal goes to ``refused`` where the route has its own way of dealing
    with one; otherwise the ``WireError`` propagates, for a caller that treats every refusal alike."""

    model: type[M]
    handle: Callable[Concatenate[M, P], None]
    refused: Callable[[WireError], None] | None = None

    def __call__(self, payload: bytes | bytearray, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            message = parse(payload, self.model)
        except WireError as exc:
            if self.refused is None:
                raise
            self.refused(exc)
            return
        self.handle(message, *args, **kwargs)


def counted(counter: Counter[str], log: logging.Logger, what: str) -> Callable[[WireError], None]:
    """A ``refused`` that counts the reason (an end reports its refusals by reason) and logs reason and detail,
    never the payload, which may hold a customer's words."""

    def refuse(exc: WireError) -> None:
        counter[exc.reason] += 1
        log.warning(what, extra={"reason": exc.reason, "detail": exc.detail})

    return refuse
