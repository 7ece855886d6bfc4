"""Request ids: a client's sane id is kept; anything else gets a fresh, unique one."""

from __future__ import annotations

from comox.server.request_id import RequestIds


def test_client_id_is_kept_when_plain_and_short():
    ids = RequestIds()
    assert ids({b"x-request-id": b"abc-123_x.y:z"}) == b"abc-123_x.y:z"


def test_unsafe_or_long_client_ids_are_replaced():
    ids = RequestIds(prefix=b"p-")
    assert ids({b"x-request-id": b"a\r\nset-cookie: x"}) == b"p-1"
    assert ids({b"x-request-id": b"x" * 129}) == b"p-2"
    assert ids({b"x-request-id": b""}) == b"p-3"


def test_generated_ids_are_unique_across_processes_and_requests():
    one, two = RequestIds(), RequestIds()
    made = {one({}) for _ in range(1000)} | {two({}) for _ in range(1000)}
    assert len(made) == 2000
