"""The worker-writer wire: frames and acks survive any split of the byte stream."""

from __future__ import annotations

import random

from comox.audit.frames import FAILED, OK, AckDecoder, FrameDecoder, encode, encode_ack
from comox.audit.writer import WriterSpec

FRAMES = [(b'{"a":1}', None), (b'{"b":2}', b""), (b"{}", b"\x00" * 70000), (b'{"c":3}', b"sealed")]


def test_frames_come_out_whole_from_partial_reads_and_several_per_read():
    stream = b"".join(encode(m, c) for m, c in FRAMES)
    rng = random.Random(7)
    for _ in range(50):
        decoder, out, pos = FrameDecoder(), [], 0
        while pos < len(stream):
            step = rng.choice((1, 3, 8, 9, 100, 70000, len(stream)))
            out += decoder.feed(stream[pos : pos + step])
            pos += step
        assert out == FRAMES and decoder.pending == 0
    assert FrameDecoder().feed(stream) == FRAMES  # all in one read


def test_no_content_and_empty_content_stay_distinct():
    (none,), (empty,) = FrameDecoder().feed(encode(b"{}")), FrameDecoder().feed(encode(b"{}", b""))
    assert none == (b"{}", None) and empty == (b"{}", b"")


def test_acks_come_out_whole_from_partial_reads():
    stream = encode_ack(0, OK) + encode_ack(5, OK) + encode_ack(9, FAILED) + encode_ack(2**40, OK)
    decoder, out = AckDecoder(), []
    for i in range(0, len(stream), 4):
        out += decoder.feed(stream[i : i + 4])
    assert out == [(0, OK), (5, OK), (9, FAILED), (2**40, OK)]


def test_the_writer_spec_round_trips_with_its_key():
    spec = WriterSpec("sqlite:///x.db", b"\x00key-bytes\xff" * 2, 7, 1.5, "/tmp/a.jsonl", 0.002)
    assert WriterSpec.decode(FrameDecoder().feed(encode(spec.encode()))[0][0]) == spec
    assert WriterSpec.decode(WriterSpec("sqlite:///y.db").encode()).policy is None
