"""``server/protocol.py``: request bodies gathered as pieces, copied only when there are several."""

from __future__ import annotations

from artifact_store.server.protocol import Pieces


def test_one_piece_is_handed_over_without_a_copy() -> None:
    pieces = Pieces()
    piece = b"x" * 300_000
    pieces += piece
    assert len(pieces) == len(piece)
    assert bytes(pieces) is piece


def test_several_pieces_are_joined_in_order() -> None:
    pieces = Pieces()
    for part in (b"ab", b"", b"cde", b"f"):
        pieces += part
    assert len(pieces) == 6
    assert bytes(pieces) == b"abcdef"


def test_an_empty_body_is_empty_bytes() -> None:
    assert bytes(Pieces()) == b""
    assert len(Pieces()) == 0


def test_a_piece_that_is_not_bytes_is_copied_into_bytes() -> None:
    pieces = Pieces()
    pieces += memoryview(b"view")  # type: ignore[arg-type]
    assert type(bytes(pieces)) is bytes
    assert bytes(pieces) == b"view"
