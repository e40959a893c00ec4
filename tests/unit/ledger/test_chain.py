"""The hash chain (ledger.chain): a built log verifies; every kind of tampering is found."""

import dataclasses
import hashlib
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.ledger.chain import GENESIS, ChainLink, ChainState, first_break, link_hash
from artifact_store.ledger.events import (
    BlobStored,
    NamespaceCreated,
    Payload,
    TagRemoved,
    TokenRevoked,
)
from artifact_store.ledger.log import Head, build

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
LENGTH = 8


def payload(i: int) -> Payload:
    """The ``i``-th of a sequence of distinct payloads of a few types."""
    match i % 4:
        case 0:
            return NamespaceCreated(namespace=f"ns{i}")
        case 1:
            return BlobStored(sha256=f"{i:064x}", blake3=f"{i + 1:064x}", size=i)
        case 2:
            return TagRemoved(namespace="acme", name="report", tag=f"t{i}")
        case _:
            return TokenRevoked(token_id=f"tok-{i}")


def payloads(count: int) -> list[Payload]:
    """``count`` distinct payloads."""
    return [payload(i) for i in range(count)]


def chain(count: int = LENGTH) -> list[ChainLink]:
    """The links of a freshly built log of ``count`` events."""
    events = build(Head(0, GENESIS), payloads(count), actor="tester", now=NOW)
    return [ChainLink(e.seq, e.body, e.prev_hash, e.hash) for e in events]


def flip(data: bytes, index: int = -1) -> bytes:
    """``data`` with one bit of one byte changed."""
    index %= len(data)
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- link_hash and a good chain ----------------------------------------------------------------


def test_genesis_is_32_zero_bytes() -> None:
    assert bytes(32) == GENESIS


def test_link_hash_is_sha256_of_prev_then_body() -> None:
    assert link_hash(b"p" * 32, b"body") == hashlib.sha256(b"p" * 32 + b"body").digest()


def test_link_hash_depends_on_prev() -> None:
    assert link_hash(GENESIS, b"body") != link_hash(b"\x01" * 32, b"body")


def test_built_chain_starts_at_genesis() -> None:
    links = chain()
    assert links[0].seq == 1
    assert links[0].prev_hash == GENESIS


def test_built_chain_links_each_hash_to_the_next_prev_hash() -> None:
    links = chain()
    assert all(b.prev_hash == a.hash for a, b in pairwise(links))


def test_built_chain_holds() -> None:
    assert first_break(chain()) is None


def test_empty_chain_holds() -> None:
    assert first_break([]) is None


def test_check_advances_the_state() -> None:
    links = chain()
    state = ChainState()
    for link in links:
        assert state.check(link) is None
    assert (state.seq, state.hash) == (LENGTH, links[-1].hash)


def test_state_carries_across_batches() -> None:
    links = chain()
    state = ChainState()
    assert first_break(links[:3], state) is None
    assert first_break(links[3:], state) is None
    assert (state.seq, state.hash) == (LENGTH, links[-1].hash)


def test_batch_that_skips_its_predecessor_breaks() -> None:
    links = chain()
    state = ChainState()
    assert first_break(links[:3], state) is None
    found = first_break(links[4:], state)
    assert found is not None
    assert found[0] == 5


def test_chain_continued_from_a_head_holds() -> None:
    first = build(Head(0, GENESIS), payloads(3), actor="tester", now=NOW)
    more = build(Head(3, first[-1].hash), payloads(2), actor="tester", now=NOW)
    links = [ChainLink(e.seq, e.body, e.prev_hash, e.hash) for e in [*first, *more]]
    assert [link.seq for link in links] == [1, 2, 3, 4, 5]
    assert first_break(links) is None


def test_failed_check_leaves_the_state_unchanged() -> None:
    links = chain()
    state = ChainState()
    state.check(links[0])
    assert state.check(dataclasses.replace(links[1], body=flip(links[1].body))) is not None
    assert (state.seq, state.hash) == (1, links[0].hash)


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 4, LENGTH])
def test_altered_body_breaks_at_its_seq(seq: int) -> None:
    links = chain()
    links[seq - 1] = dataclasses.replace(links[seq - 1], body=flip(links[seq - 1].body))
    assert first_break(links) == (
        seq,
        "hash does not match sha256(prev_hash || body): the row was altered",
    )


@pytest.mark.parametrize("seq", [1, 4, LENGTH])
def test_altered_hash_breaks_at_its_seq(seq: int) -> None:
    links = chain()
    links[seq - 1] = dataclasses.replace(links[seq - 1], hash=flip(links[seq - 1].hash))
    found = first_break(links)
    assert found is not None
    assert found[0] == seq


@pytest.mark.parametrize("seq", [1, 4, LENGTH])
def test_altered_prev_hash_breaks_at_its_seq(seq: int) -> None:
    links = chain()
    links[seq - 1] = dataclasses.replace(links[seq - 1], prev_hash=flip(links[seq - 1].prev_hash))
    assert first_break(links) == (
        seq,
        "prev_hash does not match the hash of the event before it",
    )


def test_rehashed_altered_body_breaks_at_the_next_seq() -> None:
    links = chain()
    body = flip(links[3].body)
    links[3] = dataclasses.replace(links[3], body=body, hash=link_hash(links[3].prev_hash, body))
    found = first_break(links)
    assert found is not None
    assert found[0] == 5


@pytest.mark.parametrize("seq", [1, 4, LENGTH - 1])
def test_removed_link_breaks_at_the_seq_after_the_gap(seq: int) -> None:
    links = chain()
    del links[seq - 1]
    found = first_break(links)
    assert found is not None
    assert found[0] == seq + 1
    assert "gap" in found[1]


def test_removed_link_renumbered_breaks_where_it_was() -> None:
    links = chain()
    del links[3]
    links = [dataclasses.replace(link, seq=i) for i, link in enumerate(links, start=1)]
    assert first_break(links) == (
        4,
        "prev_hash does not match the hash of the event before it",
    )


def test_truncated_tail_is_not_a_break() -> None:
    # Truncation is only visible against an outside checkpoint (a signed head), not the chain.
    assert first_break(chain()[:-2]) is None


@pytest.mark.parametrize("seq", [1, 4, LENGTH - 1])
def test_swapped_rows_break_at_the_first_of_them(seq: int) -> None:
    """Two rows' contents swapped, each keeping its seq (as a database would store them)."""
    links = chain()
    a, b = links[seq - 1], links[seq]
    links[seq - 1] = dataclasses.replace(b, seq=a.seq)
    links[seq] = dataclasses.replace(a, seq=b.seq)
    assert first_break(links) == (
        seq,
        "prev_hash does not match the hash of the event before it",
    )


@pytest.mark.parametrize("seq", [1, 4, LENGTH - 1])
def test_reordered_links_break_at_the_out_of_order_seq(seq: int) -> None:
    """Two whole links delivered in the wrong order: the first one seen is a seq too far."""
    links = chain()
    links[seq - 1], links[seq] = links[seq], links[seq - 1]
    found = first_break(links)
    assert found is not None
    assert found[0] == seq + 1
    assert f"expected seq {seq}" in found[1]


def test_duplicated_link_breaks_at_the_duplicate() -> None:
    links = chain()
    links.insert(4, links[3])
    found = first_break(links)
    assert found is not None
    assert found[0] == 4


def test_inserted_link_breaks_where_it_was_inserted() -> None:
    links = chain()
    forged = ChainLink(4, b"forged", links[2].hash, link_hash(links[2].hash, b"forged"))
    rest = [dataclasses.replace(link, seq=link.seq + 1) for link in links[3:]]
    links = [*links[:3], forged, *rest]
    assert first_break(links) == (
        5,
        "prev_hash does not match the hash of the event before it",
    )


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))),
    st.sampled_from(["body", "hash", "prev_hash"]),
    st.integers(0, 10_000),
)
def test_any_single_bit_flip_breaks_at_its_seq(
    where: tuple[int, int], column: str, offset: int
) -> None:
    length, seq = where
    links = chain(length)
    target = links[seq - 1]
    match column:
        case "body":
            links[seq - 1] = dataclasses.replace(target, body=flip(target.body, offset))
        case "hash":
            links[seq - 1] = dataclasses.replace(target, hash=flip(target.hash, offset))
        case _:
            links[seq - 1] = dataclasses.replace(target, prev_hash=flip(target.prev_hash, offset))
    found = first_break(links)
    assert found is not None
    assert found[0] == seq
