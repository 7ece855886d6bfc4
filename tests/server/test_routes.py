import asyncio

import pytest

from comox.server.errors import GatewayError
from comox.server.request import Request
from comox.server.routes import Routes


async def chat(request, reply):
    return "chat"


async def model(request, reply):
    return "model"


def req(method: bytes, path: bytes) -> Request:
    return Request(method=method, path=path, query=b"", headers={}, body=b"", client="")


def run(handler, request):
    return asyncio.run(handler(request, None))


ROUTES = Routes([(b"POST", b"/v1/chat/completions", chat), (b"GET", b"/v1/models", model)])
ROUTES.add_prefix(b"GET", b"/v1/models/", model)


def test_exact_match_and_trailing_slash():
    assert ROUTES.resolve(req(b"POST", b"/v1/chat/completions")) is chat
    assert ROUTES.resolve(req(b"POST", b"/v1/chat/completions/")) is chat


def test_prefix_route_serves_ids_with_slashes():
    assert ROUTES.resolve(req(b"GET", b"/v1/models/meta-llama/Llama-3-8B")) is model


def test_unknown_path_is_404():
    with pytest.raises(GatewayError) as info:
        run(ROUTES.resolve(req(b"GET", b"/nope")), req(b"GET", b"/nope"))
    assert info.value.status == 404


def test_wrong_method_is_405_with_allow_header():
    request = req(b"DELETE", b"/v1/chat/completions")
    with pytest.raises(GatewayError) as info:
        run(ROUTES.resolve(request), request)
    assert info.value.status == 405
    assert (b"allow", b"POST") in info.value.headers
