"""Strangers: peers who offered and whom the user never answered.

A mixin of `Peers` (peers.py), which holds the table: who the user chose, who
is a stranger, and letting the oldest strangers go. A mixin, not a part of its
own, because it reads and edits the very table the pump runs on; it is split
out so that each file keeps one job.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from . import events as ev
from .datagrams import Datagrams
from .errors import EnvironmentFailure
from .peer import Peer
from .store import MessageStore
from .trust import KnownPeers

log = logging.getLogger(__name__)

#: Strangers kept at once (peers who offered and whom the user never answered);
#: beyond that the oldest is let go. NodeConfig.max_strangers sets it.
MAX_STRANGERS = 64


class Strangers:
    """Who the user chose, and the strangers kept meanwhile (a mixin of `Peers`)."""

    # What `Peers` holds.
    _by_name: dict[str, Peer]
    _store: MessageStore
    _known_peers: KnownPeers
    _datagrams: Datagrams
    _emit: Callable[[ev.NodeEvent], Awaitable[None]]
    on_forget: Callable[[Peer], None]
    max_strangers: int
    is_member: Callable[[str], bool]

    def strangers(self) -> list[Peer]:
        """Those who offered whom the user never answered, oldest first: not opened by
        the user, no key pinned, nothing of ours waiting for them."""
        waiting = {message.peer for message in self._store.outbox()}
        return [
            peer
            for peer in list(self._by_name.values())
            if not peer.opened
            and peer.name not in waiting
            and self._known_peers.pinned(peer.name) is None
            and not self.is_member(peer.name)  # A member of one of our groups is no stranger.
        ]

    def chosen(self, peer: Peer) -> bool:
        """Whether the user chose the peer (opened it, or pinned its key): no stranger."""
        return peer.opened or self._known_peers.pinned(peer.name) is not None

    async def make_room(self) -> None:
        """A new stranger is coming: if max_strangers are kept already, let the oldest go."""
        strangers = self.strangers()
        for peer in strangers[: max(0, len(strangers) - self.max_strangers + 1)]:
            await self.forget(peer)

    async def forget(self, peer: Peer) -> None:
        """Let a stranger go: its tasks, its session, its entry; the application is told."""
        log.info("too many strangers: letting %s go", peer.name)
        peer.scope.cancel()
        del self._by_name[peer.name]
        self._datagrams.sinks.pop(peer.session.local_tag, None)
        self._datagrams.dropped["stranger let go"] += 1
        self.on_forget(peer)
        await self._emit(ev.PeerForgotten(peer.name))

    def opened(self, peer: Peer) -> None:
        """The user opened the conversation: no stranger any more, and the key it signed
        with (if it offered) is pinned now, the first key seen as ever."""
        peer.opened = True
        if peer.member_only:  # A group's member the user opens now: told again, as a conversation.
            peer.member_only, peer.announced = False, False
        if peer.signed_key and self._known_peers.pinned(peer.name) is None:
            try:
                self._known_peers.check(peer.name, peer.signed_key)
            except EnvironmentFailure as exc:  # Pinned in memory for this run all the same.
                log.warning("%s: %s's key is remembered until you quit", exc, peer.name)
