"""The port mapper on trio, against a fake router on a loopback socket."""

from __future__ import annotations

import pytest
import trio

from p2ptui.net.portmap import PortMapper

from .portmap_router import PUBLIC_IP, FakeRouter

pytestmark = pytest.mark.trio


async def serve(router: FakeRouter, task_status=trio.TASK_STATUS_IGNORED):
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(("127.0.0.1", 0))
        task_status.started(sock.getsockname()[1])
        while True:
            data, source = await sock.recvfrom(2048)
            answer = router.answer(data)
            if answer is not None:
                await sock.sendto(answer, source)


async def test_the_mapping_is_offered_renewed_at_half_life_and_deleted_on_exit(autojump_clock):
    router = FakeRouter(lifetime_cap=600)
    changes = []

    def maps():
        return [s for s in router.seen if s[:2] == ("pcp", 1)]

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, router)
        mapper = PortMapper(5000, changes.append, gateway="127.0.0.1", port=port, upnp=False)
        async with trio.open_nursery() as running:
            running.start_soon(mapper.run)
            await mapper.probed.wait()
            assert changes == [(PUBLIC_IP, 40000)]
            assert mapper.status().answered == ("pcp", "nat-pmp")
            assert mapper.status().protocol == "pcp"
            assert len(maps()) == 1
            await trio.sleep(299)
            assert len(maps()) == 1
            await trio.sleep(2)  # past half of the 600 s granted
            assert len(maps()) == 2
            await trio.sleep(300)
            assert len(maps()) == 3
            running.cancel_scope.cancel()
        nursery.cancel_scope.cancel()
    assert maps()[-1] == ("pcp", 1, 0)  # deleted on exit: lifetime 0
    assert changes == [(PUBLIC_IP, 40000)]


async def test_no_router_answering_gives_up_within_about_250_ms():
    # Real time: a port nobody listens on (ICMP refuses) and a silent one.
    silent = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with silent:
        await silent.bind(("127.0.0.1", 0))
        for port in (silent.getsockname()[1], 9):
            mapper = PortMapper(5000, gateway="127.0.0.1", port=port, upnp=False)
            start = trio.current_time()
            with trio.fail_after(5):  # a failsafe; the assertion below is the test
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(mapper.run)
                    await mapper.probed.wait()
                    elapsed = trio.current_time() - start
                    nursery.cancel_scope.cancel()
            assert elapsed < 0.6, elapsed
            assert mapper.external is None and mapper.status().answered == ()


async def test_a_refused_mapping_is_asked_for_again_a_minute_later(autojump_clock):
    router = FakeRouter(refuse=8)  # out of resources, for now
    changes = []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, router)
        mapper = PortMapper(5000, changes.append, gateway="127.0.0.1", port=port, upnp=False)
        nursery.start_soon(mapper.run)
        await mapper.probed.wait()
        assert mapper.external is None and changes == []
        router.refuse = 0
        await trio.sleep(30)
        assert changes == []
        await trio.sleep(31)
        assert changes == [(PUBLIC_IP, 40000)]
        nursery.cancel_scope.cancel()
