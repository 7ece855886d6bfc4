"""The generation routes of the fake engine (chat, completions, embeddings) and their test controls.

Order of events for one generation request:
  invalid JSON or "fake" field -> 400 at once (no control layer is consumed);
  hang -> never answer; fail_status -> wait head_delay_ms + ttft_ms, answer with the error;
  invalid request (unknown model: 404, bad fields: 400) -> answer at once;
  stream -> wait head_delay_ms, send the 200 head, wait ttft_ms, send the first event, then
  token_ms before every further token step; die/hang_after_chunks cut in after N SSE events;
  non-stream -> wait head_delay_ms + ttft_ms + token_ms * (steps - 1), then answer (or abort/hang
  instead when die/hang_after_chunks is set).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from comox.testing import fake_engine_anthropic as anthropic
from comox.testing.fake_engine_controls import Behaviour, ControlBoard, ControlError, parse_request_controls
from comox.testing.fake_engine_embeddings import plan_embeddings
from comox.testing.fake_engine_http import Request, Responder
from comox.testing.fake_engine_openai import (
    ApiError,
    Clock,
    error_body,
    parse_json_object,
    plan_chat,
    plan_text,
    split_tokens,
)
from comox.testing.fake_engine_stats import EngineStats, MetricCounters

Planner = Callable[[dict[str, Any], Behaviour], Any]


@dataclass(frozen=True)
class Wire:
    """How the engine's API family writes errors, whole and inside a stream."""

    error_body: Callable[[int, str], bytes]
    error_headers: Callable[[int], list[tuple[str, str]]]
    stream_error: Callable[[int, str], bytes]


def _openai_stream_error(status: int, message: str) -> bytes:
    return b"data: " + error_body(status, message) + b"\n\n"


OPENAI_WIRE = Wire(error_body, lambda status: [], _openai_stream_error)
ANTHROPIC_WIRE = Wire(anthropic.error_body, anthropic.error_headers, anthropic.stream_error)


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


async def _sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


class InferenceService:
    """Answers the generation routes, applying the controls and counting outcomes."""

    def __init__(
        self,
        models: tuple[str, ...],
        controls: ControlBoard,
        stats: EngineStats,
        counters: MetricCounters,
        clock: Clock = time.time,
        wire: Wire = OPENAI_WIRE,
    ) -> None:
        self._wire = wire
        self._models = models
        self._controls = controls
        self._stats = stats
        self._counters = counters
        self._clock = clock

    async def chat(self, request: Request, responder: Responder) -> None:
        await self._serve(
            request,
            responder,
            lambda body, b: plan_chat(body, self._models, b.tokens, self._clock, b.reasoning, b.reply),
        )

    async def messages(self, request: Request, responder: Responder) -> None:
        """Anthropic's Messages API (`--api anthropic`)."""
        await self._serve(
            request,
            responder,
            lambda body, b: anthropic.plan_messages(body, self._models, b.tokens, self._clock),
        )

    async def completions(self, request: Request, responder: Responder) -> None:
        await self._serve(
            request, responder, lambda body, b: plan_text(body, self._models, b.tokens, self._clock)
        )

    async def embeddings(self, request: Request, responder: Responder) -> None:
        await self._serve(
            request, responder, lambda body, _: plan_embeddings(body, self._models, self._clock)
        )

    async def _serve(self, request: Request, responder: Responder, plan: Planner) -> None:
        flight = self._stats.start()
        responder.on_disconnect = lambda: flight.finish("cancelled")
        try:
            outcome = await self._answer(request, responder, plan)
        except asyncio.CancelledError:
            flight.finish("cancelled")
            raise
        except BaseException:
            flight.finish("failed")
            raise
        flight.finish(outcome)

    async def _answer(self, request: Request, responder: Responder, plan: Planner) -> str:
        try:
            body = parse_json_object(request.body)
            behaviour = self._controls.next_behaviour(
                parse_request_controls(body.get("fake")), body.get("model")
            )
        except ApiError as exc:
            self._error(responder, exc)
            return "failed"
        except ControlError as exc:
            self._error(responder, ApiError(400, str(exc), "fake"))
            return "failed"
        responder.close_connection |= behaviour.close_after_response
        if behaviour.hang:
            await _forever()
        if behaviour.fail_status is not None:
            await _sleep_ms(behaviour.head_delay_ms + behaviour.ttft_ms)
            return self._fail(responder, behaviour)
        try:
            job = plan(body, behaviour)
            if not behaviour.stream_usage:
                job = replace(job, include_usage=False)
            if behaviour.token_chars and job.choices:
                job = split_tokens(job, behaviour.token_chars)
        except ApiError as exc:
            self._error(responder, exc)
            return "failed"
        self._counters.prompt_tokens += job.prompt_tokens
        self._counters.generation_tokens += job.completion_tokens
        if job.stream:
            outcome = await self._stream(responder, job, behaviour)
        else:
            delay = behaviour.head_delay_ms + behaviour.ttft_ms + behaviour.token_ms * max(0, job.steps - 1)
            await _sleep_ms(delay)
            outcome = await self._cut(responder, behaviour) or self._send(responder, job)
        if outcome == "completed":
            for choice in job.choices:
                success = self._counters.success
                success[choice.finish_reason] = success.get(choice.finish_reason, 0) + 1
        return outcome

    def _error(self, responder: Responder, exc: ApiError) -> None:
        if self._wire is OPENAI_WIRE:
            responder.send(exc.status, exc.body())
        else:
            responder.send(exc.status, self._wire.error_body(exc.status, exc.message))

    def _fail(self, responder: Responder, behaviour: Behaviour) -> str:
        status = behaviour.fail_status or 500
        headers = self._wire.error_headers(status)
        if behaviour.fail_body is None:
            body, ctype = self._wire.error_body(status, f"fake failure (status {status})"), "application/json"
        else:
            body = behaviour.fail_body.encode()
            ctype = "application/json" if body.lstrip()[:1] in (b"{", b"[") else "text/plain; charset=utf-8"
        responder.send(status, body, ctype, headers)
        return "failed"

    @staticmethod
    def _send(responder: Responder, job: Any) -> str:
        responder.send(200, job.body())
        return "completed"

    @staticmethod
    async def _die(responder: Responder) -> str:
        await responder.flush()  # what was written reaches the peer, then the connection drops
        responder.abort()
        return "aborted"

    async def _cut(self, responder: Responder, behaviour: Behaviour) -> str | None:
        """At the end of the answer: apply die/hang_after_chunks if set (None when neither is)."""
        if behaviour.die_after_chunks is not None:
            return await self._die(responder)
        if behaviour.hang_after_chunks is not None:
            await _forever()
        return None

    async def _stream(self, responder: Responder, job: Any, behaviour: Behaviour) -> str:
        await _sleep_ms(behaviour.head_delay_ms)
        responder.start_stream()
        for sent, (paced, event) in enumerate(job.events()):
            if sent == behaviour.die_after_chunks:
                return await self._die(responder)
            if sent == behaviour.hang_after_chunks:
                await _forever()
            if sent == behaviour.error_after_chunks:
                responder.write_chunk(self._wire.stream_error(500, "fake failure inside the stream"))
                responder.end_stream()
                return "failed"
            await _sleep_ms(behaviour.ttft_ms if sent == 0 else behaviour.token_ms if paced else 0)
            responder.write_chunk(event)
            await responder.drain()
        outcome = await self._cut(responder, behaviour)
        if outcome is not None:
            return outcome
        responder.end_stream()
        return "completed"
