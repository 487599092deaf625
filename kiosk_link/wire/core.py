"""What every payload of the wire shares: topic names, ids, the refusal error, the base models and ``parse``.

Both ends build and parse topics only through the functions here, so a device id can never smuggle a wildcard
or an extra level into a topic, and every payload that arrives goes through ``parse``: size first (before any
JSON is decoded, so a huge message costs nothing), then JSON, then the ``schema`` field (``kind/version``),
then the pydantic model. Anything refused raises ``WireError`` with a short machine-readable ``reason`` that
callers count and log; its detail never repeats payload values, which may hold a customer's words. Nothing else
escapes ``parse``: a receiver that let another exception out of its paho callback would never acknowledge the
message, and the broker would deliver it again after every reconnect (issue 18).

JSON is read strictly, as both ends write it: UTF-8 only, and no ``NaN``, ``Infinity`` or number too large for a
float (``1e999``, which Python reads as infinity). RFC 8259 JSON has no non-finite numbers, no field of the wire
means one, and one that got in would poison what compares, sums or stores it (a ``NaN`` latency, say). A string
holding a lone surrogate (``"\\ud800"``) is refused too: it is valid JSON but no text, and could not be stored or
sent on as UTF-8.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Annotated, ClassVar, Literal, NoReturn, TypeVar, cast, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

KIOSK_PREFIX = "kiosk/v1"
FLEET_PREFIX = "fleet/v1"
# Tickets carry a transcript but no photos (those travel apart, in chunks: AttachmentV1), so 256 KiB is
# generous; the same limit guards every topic either end subscribes to.
MAX_PAYLOAD_BYTES = 256 * 1024
# Chunks travel base64 in JSON (4/3 of the bytes): 128 KiB of data stays well under MAX_PAYLOAD_BYTES.
MAX_CHUNK_BYTES = 128 * 1024

DeviceTopic = Literal[
    "status",
    "telemetry",
    "tickets",
    "attachments",
    "acks",
    "config",
    "analytics",
    "update/request",
    "update/chunk",
    "update/status",
    "release",  # -> device: a release offered to this kiosk alone (a rollout), retained
    "handoff",  # -> device: a colleague took (or closed) one of this kiosk's hand-off tickets
]
DEVICE_TOPICS: tuple[DeviceTopic, ...] = get_args(DeviceTopic)
RejectReason = Literal["bad_topic", "oversized", "malformed", "wrong_schema", "unsupported_version", "invalid"]

# Letters, digits, '.', '_' and '-': stricter than MQTT needs (no '+', '#', '/', '$', spaces or NUL), so an id
# is also safe in file names, log lines and broker ACL patterns.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class WireError(ValueError):
    """A topic or payload refused on receipt; ``reason`` is what the caller counts, ``detail`` what it logs."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail


def _valid_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid id (1-64 letters, digits, '.', '_' or '-', starting alphanumeric)")
    return value


def validate_device_id(device_id: str) -> str:
    """The device id unchanged, or ValueError: it becomes a topic level, so wildcards and '/' are refused."""
    return _valid_name(device_id)


DeviceId = Annotated[str, AfterValidator(_valid_name)]
Name = Annotated[str, AfterValidator(_valid_name)]


def _known_kind(kind: str) -> DeviceTopic:
    if kind not in DEVICE_TOPICS:
        raise ValueError(f"unknown device topic {kind!r}; expected one of {DEVICE_TOPICS}")
    return cast(DeviceTopic, kind)


def device_topic(device_id: str, kind: DeviceTopic) -> str:
    """``kiosk/v1/{device}/{kind}``."""
    return f"{KIOSK_PREFIX}/{validate_device_id(device_id)}/{_known_kind(kind)}"


def device_filter(kind: DeviceTopic) -> str:
    """The subscription matching ``kind`` from every device: ``kiosk/v1/+/{kind}``."""
    return f"{KIOSK_PREFIX}/+/{_known_kind(kind)}"


def shared_filter(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker gives each message to one member of ``group``."""
    return f"$share/{_valid_name(group)}/{topic_filter}"


def release_topic(channel: str) -> str:
    """``fleet/v1/releases/{channel}``: where the signed release manifest of a channel is retained."""
    return f"{FLEET_PREFIX}/releases/{_valid_name(channel)}"


def parse_device_topic(topic: str) -> tuple[str, DeviceTopic]:
    """``(device_id, kind)`` of a ``kiosk/v1/{device}/{kind}`` topic, or ``WireError('bad_topic')``."""
    prefix, _, rest = topic.partition(f"{KIOSK_PREFIX}/")
    device_id, _, kind = rest.partition("/")
    if prefix == "" and _NAME.fullmatch(device_id) and kind in DEVICE_TOPICS:
        return device_id, cast(DeviceTopic, kind)
    raise WireError("bad_topic", f"not a {KIOSK_PREFIX} device topic: {topic[:120]!r}")


def _canonical_uuid(value: str) -> str:
    """Ticket ids are idempotency keys: any spelling of a UUID becomes the one the kiosk stores."""
    return str(uuid.UUID(value))


TicketId = Annotated[str, AfterValidator(_canonical_uuid)]
# Bounded to SQLite's 64-bit INTEGER: the backend stores counts in columns, and a larger one would fail the store
# instead of being refused by the wire (found by tests/test_sync_fuzz.py).
MAX_COUNT = 2**63 - 1
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Label = Annotated[str, Field(min_length=1, max_length=64)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class WireModel(BaseModel):
    """A payload: frozen, no unknown fields, and a ``schema`` field naming its kind and version.

    Unknown fields are refused because a new field is a new schema version, never a silent addition."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    SCHEMA: ClassVar[str]
    # Earlier versions of the same payload that a reader of this one also takes (``parse`` validates one as its
    # own model, then upgrades it to this one): an end that reads version 2 still reads a kiosk that sends 1.
    READS: ClassVar[tuple[type[WireModel], ...]] = ()

    schema_id: str = Field(alias="schema")

    def encode(self) -> bytes:
        """The JSON bytes to publish, refused here rather than by the receiver if over the size limit."""
        payload = self.model_dump_json(by_alias=True).encode()
        check_size(payload)
        return payload


class WirePart(BaseModel):
    """An object nested in a payload: as strict as the payload (frozen, no unknown fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=WireModel)


def check_size(payload: bytes | bytearray | str) -> None:
    """``WireError('oversized')`` past ``MAX_PAYLOAD_BYTES``; strings are measured as the UTF-8 they travel as."""
    size = len(payload.encode()) if isinstance(payload, str) else len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise WireError("oversized", f"{size} bytes > {MAX_PAYLOAD_BYTES}")


def _no_constant(name: str) -> NoReturn:
    """``NaN``, ``Infinity`` and ``-Infinity`` are Python's extension of JSON, not JSON: refused."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A number too large for a float (``1e999``) would silently become infinity: refused like ``Infinity``."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of the float range")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


def _decode(payload: bytes | bytearray) -> object:
    """The JSON value of ``payload``, or ``WireError('malformed')`` whatever is wrong with it."""
    try:
        data = _DECODER.decode(payload.decode("utf-8"))
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # fails on a lone surrogate, in a key or a value
    except UnicodeDecodeError:
        raise WireError("malformed", "not UTF-8") from None
    except UnicodeEncodeError:
        raise WireError("malformed", "a string holding a lone surrogate") from None
    except RecursionError:  # nesting a few thousand deep fits well under the size limit
        raise WireError("malformed", "nested too deep") from None
    except ValueError as exc:
        # Not JSON, a non-finite number, or an integer past ``sys.get_int_max_str_digits()`` (4,300 digits by
        # default): Python's messages for these name positions and digit counts, never payload values.
        raise WireError("malformed", f"not JSON: {str(exc)[:120]}") from None
    return data


def parse(payload: bytes | bytearray, model: type[M]) -> M:
    """Validate a received payload as ``model``, or raise ``WireError`` saying why not (and nothing else)."""
    check_size(payload)
    data = _decode(payload)
    if not isinstance(data, dict):
        raise WireError("malformed", f"a JSON {type(data).__name__}, not an object")
    schema = data.get("schema")
    older = next((m for m in model.READS if schema == m.SCHEMA), None)
    if older is not None:
        earlier = _validate(data, older)
        return _validate(earlier.model_dump(by_alias=True) | {"schema": model.SCHEMA}, model)
    if schema != model.SCHEMA:
        kind = model.SCHEMA.partition("/")[0]
        if isinstance(schema, str) and schema.partition("/")[0] == kind:
            raise WireError("unsupported_version", f"{schema[:40]!r}; this end reads {model.SCHEMA!r}")
        shown = repr(schema[:40]) if isinstance(schema, str) else type(schema).__name__
        raise WireError("wrong_schema", f"schema {shown}, expected {model.SCHEMA!r}")
    return _validate(data, model)


def _validate(data: dict[str, object], model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field locations and error types only: pydantic's own message quotes the offending values.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        raise WireError("invalid", f"{exc.error_count()} problem(s): {problems}") from None
