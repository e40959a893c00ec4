"""The upload-session state machine (pure, sans-IO: values in, values out; time is a parameter).

Theory of operation
-------------------
An upload session stages bytes for one future blob. Its *offset* is the number of bytes that
are durable (fsynced) in the staging area; a chunk is acknowledged only after that. The rules,
taken from tus 1.0 with OCI's finalize-with-expected-digest:

- a chunk must start exactly at the offset, else ``UploadOffsetError`` carrying the offset
  (the client HEADs or reads it from the error and resumes);
- a chunk with a checksum that does not match is discarded, the offset does not move;
- a session idle for longer than its timeout expires; every later request gets
  ``UploadExpiredError`` (HTTP 410) and a background job removes its bytes;
- finalize compares the digests of all staged bytes with the claimed one: equal → the blob is
  published and the session is ``completed``; different → nothing is stored and the session is
  ``failed``; either way it takes no more chunks;
- abort removes the session.

All transitions are in :data:`TRANSITIONS`; anything not listed is an ``UploadStateError``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from artifact_store.errors import (
    PayloadTooLargeError,
    UploadExpiredError,
    UploadOffsetError,
    UploadStateError,
)
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.kernels.records import SessionEvent, SessionState, UploadSession

__all__ = [
    "TRANSITIONS",
    "SessionEvent",
    "SessionState",
    "UploadSession",
    "check_append",
    "check_finalize",
    "check_size",
    "max_append",
    "transition",
]

#: (state, event) → next state. Abort is not a transition: it deletes the session.
TRANSITIONS: Final[dict[tuple[SessionState, SessionEvent], SessionState]] = {
    ("open", "append"): "open",
    ("open", "finalize_ok"): "completed",
    ("open", "finalize_mismatch"): "failed",
    ("open", "expire"): "expired",
}


def transition(state: SessionState, event: SessionEvent) -> SessionState:
    """The state after ``event``.

    Raises:
        UploadExpiredError: the session expired.
        UploadStateError: the event is not allowed in ``state``.
    """
    nxt = TRANSITIONS.get((state, event))
    if nxt is None:
        if state == "expired":
            raise UploadExpiredError("the upload session expired", state=state)
        raise UploadStateError(
            f"the upload session is {state}; it takes no more requests", state=state
        )
    return nxt


def _check_live(session: UploadSession, now: datetime) -> None:
    if session.state == "open" and now >= session.expires_at:
        raise UploadExpiredError("the upload session expired", upload_id=session.id)


def check_append(session: UploadSession, *, offset: int, now: datetime) -> None:
    """Raise unless a chunk may be appended at ``offset``.

    Raises:
        UploadExpiredError, UploadStateError: the session takes no chunks.
        UploadOffsetError: ``offset`` is not the session's offset (``extra['offset']`` is).
    """
    _check_live(session, now)
    transition(session.state, "append")
    if offset != session.offset:
        raise UploadOffsetError(
            f"chunk starts at {offset} but the session's offset is {session.offset}",
            offset=session.offset,
        )


def max_append(session: UploadSession) -> int:
    """How many more bytes the session may take."""
    cap = MAX_BLOB_SIZE if session.length is None else min(session.length, MAX_BLOB_SIZE)
    return cap - session.offset


def check_size(session: UploadSession, new_offset: int) -> None:
    """Raise when ``new_offset`` passes the declared length or the blob size limit."""
    if new_offset > session.offset + max_append(session):
        cap = session.length if session.length is not None else MAX_BLOB_SIZE
        raise PayloadTooLargeError(
            f"the upload would be {new_offset} bytes, over its limit of {cap}",
            limit="upload_length" if session.length is not None else "blob_size",
            maximum=cap,
        )


def check_finalize(session: UploadSession, *, now: datetime) -> None:
    """Raise unless the session may be finalized now.

    Raises:
        UploadExpiredError, UploadStateError: the session is not open, or shorter than the
            length it declared.
    """
    _check_live(session, now)
    transition(session.state, "finalize_ok")
    if session.length is not None and session.offset != session.length:
        raise UploadStateError(
            f"the upload has {session.offset} of the {session.length} bytes it declared",
            offset=session.offset,
            length=session.length,
        )
