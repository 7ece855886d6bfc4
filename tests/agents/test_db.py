import asyncio

import pytest

from comox.agents.db import marks, run_to_end


def test_a_coroutine_that_never_suspends_runs_to_its_end_without_a_loop():
    async def answer(x):
        async def now():
            return x

        return await now() + 1

    assert run_to_end(answer(41)) == 42


def test_a_query_function_that_suspends_is_an_error_not_a_hang():
    async def sleeps():
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something that suspends"):
        run_to_end(sleeps())


def test_marks():
    assert marks(3) == "?, ?, ?"
