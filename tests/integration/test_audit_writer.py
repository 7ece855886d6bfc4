"""The audit writer processes, for real: one per worker, in its own session; killing it fails
only the requests it had not acknowledged (503, never a 200 without a record) and the next
request starts another; killing the gateway leaves what was in the pipe to be committed."""

from __future__ import annotations

import os
import signal
import time

from comox.testing.keys import chat, cli, create_key, wait_until
from comox.testing.processes import start_gateway
from tests.integration.test_audit import (
    audit_config,
    error_code,
    gateway_pids,
    load,
    stored_request_ids,
    writers_of,
)


def one_writer(proc) -> int:
    wait_until(lambda: len(writers_of(gateway_pids(proc))) == 1, timeout=5)
    (pid,) = writers_of(gateway_pids(proc))
    return pid


def test_the_writer_is_a_separate_process_and_exits_when_the_worker_stops(engine, tmp_path):
    _, path = audit_config(engine, tmp_path)
    key = create_key(path, "acme")
    proc = start_gateway(path)
    try:
        assert chat(proc.port, key)[0] == 200
        writer = one_writer(proc)
        assert writer != proc.proc.pid and os.getsid(writer) != os.getsid(proc.proc.pid)
    finally:
        assert proc.stop() == 0
    wait_until(lambda: not writers_of({proc.proc.pid}), timeout=10)
    assert cli("audit", "verify", "--config", path).startswith("ok: 1 records")


def test_a_killed_writer_turns_in_flight_answers_into_503_and_the_next_requests_succeed(engine, tmp_path):
    _, path = audit_config(engine, tmp_path)
    key = create_key(path, "acme")
    proc = start_gateway(path)
    refused: list[bytes] = []
    try:
        assert chat(proc.port, key)[0] == 200
        first = one_writer(proc)
        stop, threads, received = load(proc.port, key, refused=refused)
        wait_until(lambda: len(received) > 50, timeout=10)
        os.kill(first, signal.SIGSTOP)  # requests pile up waiting for their records...
        time.sleep(0.3)
        os.kill(first, signal.SIGKILL)  # ...and the writer dies with them unacknowledged
        wait_until(lambda: len(refused) >= 1, timeout=5)
        count = len(received)
        wait_until(lambda: len(received) > count + 50, timeout=10)  # a new writer took over
        stop.set()
        for t in threads:
            t.join(5)
        second = one_writer(proc)
        assert second != first
    finally:
        assert proc.stop() == 0
    errors = [error_code(body) for body in refused]
    assert errors and set(errors) == {"audit_unavailable"}
    stored = stored_request_ids(path)
    assert not [rid for rid in received if rid not in stored]
    assert cli("audit", "verify", "--config", path).startswith("ok:")


def test_kill_9_of_the_gateway_leaves_the_records_in_the_pipe_to_the_writer(engine, tmp_path):
    _, path = audit_config(engine, tmp_path)
    key = create_key(path, "acme")
    proc = start_gateway(path)
    try:
        assert chat(proc.port, key)[0] == 200
        writer = one_writer(proc)
        stop, threads, received = load(proc.port, key)
        wait_until(lambda: len(received) > 50, timeout=10)
        os.kill(writer, signal.SIGSTOP)  # records pile up in the pipe, their clients waiting
        time.sleep(0.3)
        proc.signal(signal.SIGKILL)  # the gateway's process group; the writer is in its own session
        proc.proc.wait(5)
        os.kill(writer, signal.SIGCONT)
        stop.set()
        for t in threads:
            t.join(5)
    finally:
        proc.stop()
    wait_until(lambda: not writers_of({proc.proc.pid}), timeout=30)
    restarted = start_gateway(path)  # the log as a restarted gateway finds it
    try:
        stored = stored_request_ids(path)
        assert not [rid for rid in received if rid not in stored]
        assert len(stored) > len(received) + 1  # the unanswered requests' records were committed too
        assert chat(restarted.port, key)[0] == 200
    finally:
        restarted.stop()
    assert cli("audit", "verify", "--config", path).startswith("ok:")
