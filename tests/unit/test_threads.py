"""threads.both: two calls at once, an error as itself."""

from __future__ import annotations

import anyio
import pytest

from manyoyo_mcp.errors import EngineFailure
from manyoyo_mcp.threads import both

pytestmark = pytest.mark.anyio


async def test_both_run_at_once_and_their_results_come_back_in_order():
    ready = anyio.Event()

    async def waits() -> str:
        await ready.wait()  # only the other call sets it: one after the other would never end
        return "a"

    async def sets() -> int:
        ready.set()
        return 2

    with anyio.fail_after(5):
        assert await both(waits(), sets()) == ("a", 2)


async def test_an_error_is_raised_as_itself_and_the_other_call_is_cancelled():
    finished: list[str] = []

    async def slow() -> None:
        await anyio.sleep(5)
        finished.append("slow")

    async def failing() -> None:
        raise EngineFailure("the engine refused")

    with pytest.raises(EngineFailure, match="the engine refused"):
        await both(slow(), failing())
    assert finished == []
