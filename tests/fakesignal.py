"""Signalling for tests: an in-memory service, and a tap on a real client.

`Hub` is the signalling service in miniature (presence, offers, answers,
refusals), so nodes on trio's fake network, which has no TCP, can find each
other. `Tap` wraps any client: it records what the node sends and lets a test
put events before the node as if the service had sent them.
"""

from __future__ import annotations

import trio

from p2ptui.net.identity import Identity
from p2ptui.net.signalling import (
    AnswerReceived,
    OfferReceived,
    OfferRefused,
    PresenceChanged,
    Registered,
    SignallingClient,
    SignallingEvent,
)
from p2ptui.net.signalling.messages import Answer, Offer, Presence


class Hub:
    """A signalling service in memory; every client it makes shares it."""

    def __init__(self, *, presence_addresses: bool = False) -> None:
        #: Presence carries the peer's address, as Firestore's documents do (the
        #: built-in server's never do).
        self.presence_addresses = presence_addresses
        self.online: dict[str, HubClient] = {}
        self.offers: list[Offer] = []
        self.answers: list[Answer] = []

    def client(self, name: str, identity: Identity) -> HubClient:
        return HubClient(self, name, identity)

    def presence(self, name: str) -> Presence:
        client = self.online.get(name)
        if client is None:
            return Presence(name, False)
        address = client.address if self.presence_addresses else None
        return Presence(name, True, client.identity.public_key, address)

    def announce(self, name: str) -> None:
        for client in self.online.values():
            if name in client.watching:
                client.tell(PresenceChanged(self.presence(name)))


class HubClient(SignallingClient):
    def __init__(self, hub: Hub, name: str, identity: Identity) -> None:
        self.label = "memory://hub"
        self.hub, self.name, self.identity = hub, name, identity
        self.watching: set[str] = set()
        self.address: tuple[str, int] | None = None
        self._send, self.events = trio.open_memory_channel[SignallingEvent](1000)

    def tell(self, event: SignallingEvent) -> None:
        self._send.send_nowait(event)

    async def run(self, discover, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.address = await discover([])
        self.hub.online[self.name] = self
        try:
            self.tell(Registered(self.name, self.address[0]))
            self.hub.announce(self.name)
            task_status.started()
            await trio.sleep_forever()
        finally:
            self.hub.online.pop(self.name, None)  # A test may have taken it away (a vanished peer).
            self.hub.announce(self.name)

    async def watch(self, name: str) -> None:
        self.watching.add(name)
        if self.name in self.hub.online:
            self.tell(PresenceChanged(self.hub.presence(name)))

    async def send_offer(self, offer: Offer) -> None:
        self.hub.offers.append(offer)
        self._deliver(offer.receiver, OfferReceived(offer, self.seen_ip), offer.id)

    async def send_answer(self, answer: Answer) -> None:
        self.hub.answers.append(answer)
        self._deliver(answer.receiver, AnswerReceived(answer, self.seen_ip), answer.offer_id)

    @property
    def seen_ip(self) -> str:
        """Where the service sees us, as the built-in server stamps it: our public IP."""
        return self.address[0] if self.address else ""

    def _deliver(self, receiver: str, event: SignallingEvent, ref: str) -> None:
        target = self.hub.online.get(receiver)
        if target is None:
            self.tell(OfferRefused(ref, f"{receiver} is offline"))
        else:
            target.tell(event)


class Tap(SignallingClient):
    """A real client with a test's hand on it: `sent` is everything the node sent
    through it; `inject` puts an event before the node."""

    def __init__(self, inner: SignallingClient) -> None:
        self.inner = inner
        self.label = inner.label
        self.sent: list[Offer | Answer] = []
        self.received: list[SignallingEvent] = []
        self._inject, self.events = trio.open_memory_channel[SignallingEvent](1000)

    async def inject(self, event: SignallingEvent) -> None:
        await self._inject.send(event)

    async def run(self, discover, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._forward)
            await nursery.start(self.inner.run, discover)
            task_status.started()

    async def _forward(self) -> None:
        async for event in self.inner.events:
            self.received.append(event)
            await self._inject.send(event)

    async def watch(self, name: str) -> None:
        await self.inner.watch(name)

    async def send_offer(self, offer: Offer) -> None:
        self.sent.append(offer)
        await self.inner.send_offer(offer)

    async def send_answer(self, answer: Answer) -> None:
        self.sent.append(answer)
        await self.inner.send_answer(answer)
