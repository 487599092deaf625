"""A ticket's files (the technician's photos) as wire messages: chunks within the size limit, or "missing".

A ticket names its files by their path under the kiosk's data folder (``photos/{id}.jpg``). Each file leaves as
``AttachmentV1`` chunks of ``MAX_CHUNK_BYTES`` (base64 in JSON, well under ``MAX_PAYLOAD_BYTES``), each carrying
the whole file's size and sha256, so the backend checks what it put together and a repeat is recognised.
JPEGs do not compress, so no compression is tried. The messages are built from the file each time the outbox
row is (re)published: nothing is copied into the outbox, and the photo stays on the kiosk (pruning is issue 8).

A file that is gone (deleted by staff or a full-disk clean-up) must not hold its ticket back forever: it is
sent as ``missing``, logged, and the backend records it so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from kiosk_link import wire

log = logging.getLogger(__name__)


def attachment_names(ticket_payload: str) -> list[str]:
    """The files a ticket's wire JSON names; one the wire could never carry (not a plain relative path) is logged
    and left out, since the backend does not wait for it either."""
    names = json.loads(ticket_payload).get("attachments") or []
    carried = wire.carried_attachments(names)
    for name in names:
        if name not in carried:
            log.error("attachment name the wire cannot carry; left out", extra={"attachment": str(name)[:80]})
    return carried


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def attachment_messages(data_dir: Path, ticket_id: str, name: str) -> Iterator[bytes]:
    """The payloads that carry ``data_dir/name`` for ``ticket_id``: its chunks in order, or one "missing"."""
    path = data_dir / name
    try:
        sha256, size = _sha256(path)
        if size > wire.MAX_ATTACHMENT_BYTES:
            raise OSError(f"{size} bytes > {wire.MAX_ATTACHMENT_BYTES}")
        handle = path.open("rb")
    except OSError as exc:
        log.warning(
            "attachment missing on the kiosk; the ticket is sent without it",
            extra={"ticket_id": ticket_id, "attachment": name, "error": str(exc)},
        )
        yield wire.AttachmentV1(ticket_id=ticket_id, name=name, missing=True).encode()
        return
    count = max(1, -(-size // wire.MAX_CHUNK_BYTES))
    with handle:
        for index in range(count):
            data = base64.b64encode(handle.read(wire.MAX_CHUNK_BYTES)).decode()
            chunk = wire.AttachmentV1(
                ticket_id=ticket_id, name=name, size=size, sha256=sha256, index=index, count=count, data=data
            )
            yield chunk.encode()
