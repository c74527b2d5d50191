"""A burst of messages: stored in one transaction on each side, sent packed."""

import pytest

from p2ptui.net import ConfigError, Identity, events, open_node

from .test_node import config, next_event, signal_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.trio


async def test_a_burst_is_stored_at_once_and_arrives_in_order(signal_url):  # noqa: F811
    async with open_node(config("alice", signal_url), Identity.generate()) as a, open_node(
        config("bob", signal_url), Identity.generate()
    ) as b:
        texts = [f"line {n}" for n in range(200)]
        ids = a.send_many("bob", texts)
        assert len(set(ids)) == 200 and [m.text for m in a.store.outbox()] == texts
        got = [(await next_event(b, events.MessageReceived)).text for _ in texts]
        assert got == texts
        delivered = {(await next_event(a, events.MessageDelivered)).id for _ in texts}
        assert delivered == set(ids) and a.store.outbox() == []


async def test_a_burst_with_one_bad_text_sends_none(signal_url):  # noqa: F811
    async with open_node(config("alice", signal_url), Identity.generate()) as a:
        with pytest.raises(ConfigError):
            a.send_many("bob", ["fine", "", "also fine"])
        assert a.store.outbox() == []
