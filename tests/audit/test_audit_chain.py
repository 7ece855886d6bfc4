"""The verifier finds every single-byte change, removal and reordering, and says where."""

from __future__ import annotations

import pytest

from comox.audit.chain import GENESIS, ChainVerifier, CheckpointPolicy, link
from comox.audit.operations import verify_rows
from comox.audit.record import COLUMNS
from tests.audit.records import chain, entries

KEY = b"k" * 32


def flipped(value, index: int):
    """`value` with one byte changed, in the type a store would hand back."""
    if isinstance(value, int):
        return value ^ (1 << (8 * (index % 4)))
    data = bytearray(value.encode() if isinstance(value, str) else value)
    data[index % len(data)] ^= 0x01
    return data.decode("latin-1") if isinstance(value, str) else bytes(data)


def test_an_untouched_chain_verifies_with_its_checkpoint():
    rows = chain(6)
    cp = CheckpointPolicy(KEY).sign(6, rows[-1][-1], 1.0)
    report = verify_rows(rows, [cp], KEY)
    assert report.ok and report.records == 6 and report.head_seq == 6 and not report.warnings


def test_every_single_byte_flip_of_every_field_of_every_record_is_found_at_its_record():
    rows = chain(4)
    checked = 0
    for position, row in enumerate(rows):
        for col, value in enumerate(row):
            if value is None:
                continue
            length = 4 if isinstance(value, int) else len(value)
            for index in range(length):
                tampered = list(rows)
                changed = list(row)
                changed[col] = flipped(value, index)
                tampered[position] = tuple(changed)
                if COLUMNS[col] == "seq":
                    tampered.sort(key=lambda r: r[0])  # a store reads in seq order
                report = verify_rows(tampered, [], None)
                assert not report.ok, (COLUMNS[col], index)
                # the problem is reported at the record changed (or, for its seq, where it left a gap)
                assert report.problem.seq in (row[0], row[0] + 1) or COLUMNS[col] == "seq", report.problem
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize("gone", [1, 3, 5])
def test_a_removed_record_is_reported_by_its_position(gone):
    rows = [r for r in chain(6) if r[0] != gone]
    report = verify_rows(rows, [], None)
    assert report.problem.kind == "removed" and report.problem.seq == gone


def test_removing_the_newest_records_shows_only_against_a_signed_checkpoint():
    rows = chain(6)
    cp = CheckpointPolicy(KEY).sign(6, rows[-1][-1], 1.0)
    assert verify_rows(rows[:-1], [], None).ok  # the chain alone cannot tell
    report = verify_rows(rows[:-1], [cp], KEY)
    assert report.problem.kind == "truncated" and report.problem.seq == 6


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 5), (1, 6)])
def test_two_swapped_records_are_reported_at_the_first_of_them(a, b):
    rows = chain(6)
    swapped = [list(r) for r in rows]
    swapped[a - 1][0], swapped[b - 1][0] = b, a  # exchange their places
    swapped.sort(key=lambda r: r[0])
    report = verify_rows([tuple(r) for r in swapped], [], None)
    assert report.problem.kind == "reordered" and report.problem.seq == a


def test_a_rewritten_chain_fails_its_signed_checkpoint_and_a_forged_one_fails_its_mac():
    rows = chain(4)
    cp = CheckpointPolicy(KEY).sign(4, rows[-1][-1], 1.0)
    rewritten = link(0, GENESIS, entries(4))  # consistent, but not what was signed
    assert verify_rows(rewritten, [], None).ok
    assert verify_rows(rewritten, [cp], KEY).problem.kind == "altered"
    forged = CheckpointPolicy(b"x" * 32).sign(4, rewritten[-1][-1], 1.0)
    assert verify_rows(rewritten, [forged], KEY).problem.kind == "checkpoint"


def test_checkpoint_policy_signs_every_n_records_or_t_seconds():
    policy = CheckpointPolicy(KEY, every=10, interval=5.0)
    assert not policy.due(None, 0, 0.0)
    assert policy.due(None, 1, 0.0)
    assert not policy.due((1, 0.0), 5, 1.0)
    assert policy.due((1, 0.0), 11, 1.0)
    assert policy.due((1, 0.0), 2, 5.0)
    assert not policy.due((3, 0.0), 3, 99.0)


def test_feeding_stops_at_the_first_problem():
    rows = chain(3)
    verifier = ChainVerifier()
    assert verifier.feed(rows[0])
    assert not verifier.feed(rows[2])
    assert verifier.finish().problem.seq == 2
