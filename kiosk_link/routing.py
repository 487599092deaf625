"""Routing tables: the model a received payload must validate as, and the handler that then takes it.

Both ends look up what arrived (the kiosk: the exact topic; the backend: the kind of a device topic) in a table
of ``Route`` entries instead of an if/elif chain over topic names, as paho's ``message_callback_add`` maps topic
filters to callbacks (``paho.mqtt.matcher``): a new message is one entry, and no handler ever sees a payload that
did not validate as its model.

Whatever arrives may be hostile, so refusals are logged through a ``RateLimit`` (counted every time, logged once
a minute per reason), and the kiosk wraps every receiver of its table in ``guarded``: nothing a handler raises may
reach paho, which would then never acknowledge the message (issue 18).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, Generic, ParamSpec, TypeVar

from kiosk_link.logs import RateLimit
from kiosk_link.wire import WireError, WireModel, parse

M = TypeVar("M", bound=WireModel)
P = ParamSpec("P")
# What a table maps a topic to where the handler needs nothing but the payload: a ``Route`` taking no more, or a
# handler that reads the raw payload itself (a signed release, which is verified before it is parsed).
Receiver = Callable[[bytes | bytearray], None]
# The reason ``guarded`` counts a message under when its handler failed, next to the wire's refusal reasons.
HANDLER_ERROR = "handler_error"


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

    limit = RateLimit()

    def refuse(exc: WireError) -> None:
        counter[exc.reason] += 1
        limit.log(log, logging.WARNING, exc.reason, what, extra={"reason": exc.reason, "detail": exc.detail})

    return refuse


def guarded(receive: Receiver, counter: Counter[str], log: logging.Logger, topic: str) -> Receiver:
    """``receive``, except that nothing it raises escapes: the message is dropped, counted as ``HANDLER_ERROR``
    and logged with its traceback (at most once a minute).

    For a paho callback: an exception out of ``on_message`` ends the network loop before the message is
    acknowledged, so the broker delivers it again after every reconnect, and the same failure stops everything
    queued behind it, for good. Dropping it costs little: an acknowledgement is sent again with the ticket's
    next delivery, a chunk is asked for again, a retained message comes again on the next connection."""
    limit = RateLimit()

    def receive_guarded(payload: bytes | bytearray) -> None:
        try:
            receive(payload)
        except Exception:
            counter[HANDLER_ERROR] += 1
            limit.log(
                log,
                logging.ERROR,
                HANDLER_ERROR,
                "message dropped: its handler failed",
                extra={"topic": topic},
                exc_info=True,
            )

    return receive_guarded
