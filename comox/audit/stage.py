"""The audit log on the request path: two stages around the others, and the refusal hook.

`AuditHead` runs first, so every call that got that far has a record, including those
the later stages refuse (403, 429): it names the request and its subject and hooks the
record into `call.before_complete`, so the record is durable before the client gets the
end of the answer. `AuditTail` runs last, so it sees the data class and what the policy
stages did (the payload as it will be forwarded, an answer filter restoring redactions),
and sets up content capture when the mode asks for it. `refused` records requests turned
away before they became calls (401, 400, 415).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from comox.api.call import AnswerFilter, Call
from comox.audit.record import new_request_id, subject_of
from comox.server.errors import GatewayError
from comox.server.request import Request
from comox.server.wire import header_line

if TYPE_CHECKING:
    from comox.audit.log import AuditLog

STATE = "audit"
REQUEST_ID_HEADER = b"x-comox-request-id"


@dataclass(slots=True)
class Pending:
    """The audit's state of one call, kept in `request.state`."""

    request_id: str
    subject: str
    mode: str = "none"
    answer: list[bytes] = field(default_factory=list)
    size: int = 0
    limit: int = 0
    truncated: bool = False
    recorded: bool = False

    def tap(self, data: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(data)
            return
        if len(data) > room:
            data, self.truncated = data[:room], True
        self.answer.append(data)
        self.size += len(data)


class TapBefore:
    """Wraps an answer filter to capture the answer as the engine sent it, before the filter
    (for `redacted` content: the answer with its placeholders, not the restored values)."""

    def __init__(self, inner: AnswerFilter, tap) -> None:
        self.inner, self.tap = inner, tap

    def feed(self, data: bytes) -> bytes:
        self.tap(data)
        return self.inner.feed(data)

    def flush(self) -> bytes:
        return self.inner.flush()

    def whole(self, body: bytes) -> bytes:
        self.tap(body)
        return self.inner.whole(body)


class AuditHead:
    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def admit(self, call: Call) -> None:
        pending = Pending(new_request_id(), subject_of(call))
        call.request.state[STATE] = pending
        call.want_usage = True
        call.before_complete = (*call.before_complete, self.log.on_complete)
        call.response_headers += header_line(REQUEST_ID_HEADER, pending.request_id.encode())

    def settle(self, call: Call) -> None:
        pending = call.request.state.get(STATE)
        if pending is not None and not pending.recorded:  # cancelled, or failed outside the hooks
            self.log.record_later(call, pending)


class AuditTail:
    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def admit(self, call: Call) -> None:
        pending: Pending = call.request.state[STATE]
        config = self.log.config
        mode = config.content_mode(getattr(call.principal, "tenant", None), call.data_class)
        if mode == "none":
            return
        pending.mode, pending.limit = mode, config.max_content_bytes
        if mode == "redacted" and call.answer_filter is not None:
            call.answer_filter = TapBefore(call.answer_filter, pending.tap)
        else:
            call.answer_taps = (*call.answer_taps, pending.tap)

    def settle(self, call: Call) -> None:
        return None


async def refused(log: AuditLog, request: Request, api: str, principal: Any, exc: GatewayError) -> None:
    call = Call(request, api, {}, "", False, principal, status=exc.status, error=exc)
    await log.record_refusal(call, Pending(new_request_id(), subject_of(call)))
