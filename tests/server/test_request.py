import pytest

from comox.server.errors import GatewayError
from comox.server.request import Request


def req(body: bytes, ctype: bytes | None = b"application/json") -> Request:
    headers = {b"content-type": ctype} if ctype is not None else {}
    return Request(method=b"POST", path=b"/", query=b"", headers=headers, body=body, client="")


def test_json_object_is_parsed():
    assert req(b'{"a": 1}').json_object() == {"a": 1}
    assert req(b'{"a": 1}', b"application/json; charset=utf-8").json_object() == {"a": 1}


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code"),
    [
        (b"{}", b"text/plain", 415, "unsupported_media_type"),
        (b"{}", None, 415, "unsupported_media_type"),
        (b"", b"application/json", 400, "invalid_json"),
        (b"{nope", b"application/json", 400, "invalid_json"),
        (b"[]", b"application/json", 400, "invalid_json"),
    ],
)
def test_bad_bodies_are_refused_with_the_right_status(body, ctype, status, code):
    with pytest.raises(GatewayError) as info:
        req(body, ctype).json_object()
    assert (info.value.status, info.value.code) == (status, code)
