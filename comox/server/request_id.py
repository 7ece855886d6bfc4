"""Request ids: the client's own when it sent a sane one, else a fresh one that is cheap to make.

A fresh id is a random per-process prefix and a counter, so ids are unique across workers
and replicas without a random draw per request. A client-supplied `x-request-id` is kept
(so one id follows a request across systems) only when it is short and plain: it is echoed
in headers and logs, so it must not carry line breaks or arbitrary bytes.
"""

from __future__ import annotations

import re
import secrets

HEADER = b"x-request-id"
MAX_LENGTH = 128
_VALID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,%d}" % MAX_LENGTH)


class RequestIds:
    def __init__(self, prefix: bytes | None = None) -> None:
        self._prefix = prefix if prefix is not None else secrets.token_hex(6).encode() + b"-"
        self._count = 0

    def __call__(self, headers: dict[bytes, bytes]) -> bytes:
        given = headers.get(HEADER)
        if given is not None and _VALID.fullmatch(given):
            return given
        self._count += 1
        return b"%s%x" % (self._prefix, self._count)
