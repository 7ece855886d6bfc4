"""The wire between a worker and its audit writer process: records one way, acks the other.

Worker -> writer (stdin): frames of `<II` (metadata length, content length + 1, or 0 for
no content) followed by the metadata bytes and the sealed content. The first frame is the
writer's configuration (its JSON as the metadata, no content), so secrets such as the
checkpoint key travel through the pipe, never argv or the environment.

Writer -> worker (stdout): acks of `<QB`: how many records this writer has finished in all
(a cumulative count), and whether the records since the previous ack are durable (OK) or
failed (FAILED). The writer's first ack, `(0, OK)`, says its store and sinks are open.

Both decoders take whatever a read returned: partial frames wait for the rest, several
frames in one read all come out. Pure code, no I/O.
"""

from __future__ import annotations

import struct

HEAD = struct.Struct("<II")
ACK = struct.Struct("<QB")
OK, FAILED = 0, 1


def record_head(meta: bytes, content: bytes | None) -> bytes:
    """The header of a frame; the frame is this, then `meta`, then `content` if any."""
    return HEAD.pack(len(meta), 0 if content is None else len(content) + 1)


def encode(meta: bytes, content: bytes | None = None) -> bytes:
    return b"".join((record_head(meta, content), meta, content or b""))


def encode_ack(count: int, status: int) -> bytes:
    return ACK.pack(count, status)


class FrameDecoder:
    """Bytes in, `(meta, content | None)` frames out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes | None]]:
        buf = self._buf
        buf += data
        frames = []
        pos, size, head = 0, len(buf), HEAD.size
        while size - pos >= head:
            meta_len, content_len = HEAD.unpack_from(buf, pos)
            start = pos + head
            end = start + meta_len + max(content_len - 1, 0)
            if end > size:
                break
            meta = bytes(buf[start : start + meta_len])
            frames.append((meta, bytes(buf[start + meta_len : end]) if content_len else None))
            pos = end
        if pos:
            del buf[:pos]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)


class AckDecoder:
    """Bytes in, `(count, status)` acks out."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        buf = self._buf + data if self._buf else data
        whole = len(buf) - len(buf) % ACK.size
        self._buf = buf[whole:]
        return [ACK.unpack_from(buf, pos) for pos in range(0, whole, ACK.size)]
