import asyncio

from comox.server.watchdog import Watchdog


class Item:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = 0

    def expire(self) -> None:
        self.expired += 1


def test_only_items_past_their_deadline_expire_and_only_once():
    async def main():
        loop = asyncio.get_running_loop()
        dog = Watchdog(loop, resolution=0.01)
        soon, later, never = Item(loop.time() + 0.02), Item(loop.time() + 10), Item(0.0)
        for item in (soon, later, never):
            dog.watch(item)
        await asyncio.sleep(0.08)
        dog.close()
        return soon, later, never

    soon, later, never = asyncio.run(main())
    assert (soon.expired, later.expired, never.expired) == (1, 0, 0)
    assert soon.deadline == 0.0


def test_unwatched_items_never_expire():
    async def main():
        loop = asyncio.get_running_loop()
        dog = Watchdog(loop, resolution=0.01)
        item = Item(loop.time() + 0.01)
        dog.watch(item)
        dog.unwatch(item)
        await asyncio.sleep(0.05)
        dog.close()
        return item

    assert asyncio.run(main()).expired == 0
