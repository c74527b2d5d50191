"""One peer: what the node knows of it, and the status the application sees.

`Peer` holds it (per-peer state is a trio_util AsyncValue, so tasks wait on it
instead of polling); `derive_status` and `path_kind` are pure functions of it.
The table of peers and the flow of their sessions are peers.py's.
"""

from __future__ import annotations

from collections import Counter

import trio
import trio_util

from . import events as ev
from . import session as sess
from .address import Address, Route, Via
from .driver import Wakeable


class Peer(Wakeable):
    """Everything the node knows about one peer."""

    def __init__(self, name: str, session: sess.Session) -> None:
        super().__init__()
        self.name = name
        self.session = session
        self.status = trio_util.AsyncValue(ev.PeerStatus.OFFLINE)
        self.online = trio_util.AsyncBool(False)
        #: The open path went silent: offer again at once, with fresh addresses.
        self.path_lost = trio_util.AsyncBool(False)
        self.key = ""
        #: A key other than the pinned one, seen in a signed offer, answer or
        #: presence: nothing goes to the peer until the user accepts it.
        self.changed_key = ""
        self.address: Address | None = None
        self.offers_sent: list[str] = []
        self.awaiting_answer = False
        self.reason = ""
        #: The peer started the conversation; told with the first status event.
        self.incoming = False
        #: The user opened the conversation (or sent to the peer): never a stranger.
        self.opened = False
        #: Made only because it shares a group with us (net/node_groups.py): not a conversation.
        self.member_only = False
        #: The key of the newest signed offer or answer taken: pinned once the user
        #: opens the conversation (a stranger's key is never written down before).
        self.signed_key = ""
        #: changed_key came in a signed offer or answer, not from presence alone (an
        #: AsyncBool: an offer waiting for its answer stops waiting when it turns True).
        self.changed_key_signed = trio_util.AsyncBool(False)
        #: A key only presence named, which the user accepted: pinned only once the
        #: peer signs an offer or answer with it; presence naming it does not warn again.
        self.accepted_key = ""
        #: Holds the peer's tasks (its driver and connector): cancelled when it is let go.
        self.scope = trio.CancelScope()
        self.announced = False
        self.announced_path: Route | None = None
        #: Whether presence (or an offer) has told us anything about the peer yet.
        self.heard_of = False
        #: The peer's NAT type, from its latest offer or answer.
        self.nat = "unknown"
        #: Connected over a direct path (not a relay): spraying stops here.
        self.direct = trio_util.AsyncBool(False)
        #: The expiry of the newest offer or answer taken from the peer: an older
        #: one (delayed, or replayed) must not bring back an old tag.
        self.newest_signal = 0.0
        #: One pump at a time (the driver's, or the signalling task's on an offer),
        #: so events reach the application in the order the session made them.
        self.pump_lock = trio.Lock()
        #: ((verified, verification_lost), reason) as last told: news even when the status is not.
        self.announced_news: tuple[tuple[bool, bool], str] = ((False, False), "")
        #: What sessions before this one (ended by a goodbye) dropped, by reason.
        self.dropped_before: Counter[str] = Counter()

    @property
    def dropped(self) -> Counter[str]:
        """Everything dropped in this conversation, by reason, across its sessions."""
        return self.dropped_before + self.session.dropped


def derive_status(peer: Peer) -> ev.PeerStatus | None:
    """The status the application sees; None while there is nothing to tell."""
    state = peer.session.state
    if not peer.heard_of and state == sess.State.IDLE and not peer.awaiting_answer:
        return None  # Nothing to tell until presence answers.
    if peer.changed_key:
        return ev.PeerStatus.KEY_CHANGED
    if state == sess.State.CONNECTED:
        return ev.PeerStatus.CONNECTED  # The path is the truth, whatever presence says.
    if state == sess.State.CLOSED:
        # A goodbye ended it (maybe not yet told: online may be stale). When presence
        # or an offer says the peer is back, `Peers.renew` gives it a new session.
        return ev.PeerStatus.OFFLINE
    if peer.awaiting_answer:
        return ev.PeerStatus.CONNECTING  # We offered: the answer will tell.
    if not peer.online.value:
        # Gone (a goodbye, or presence): punching toward an old address is no
        # reason to say "connecting".
        return ev.PeerStatus.OFFLINE
    if state in (sess.State.PROBING, sess.State.HANDSHAKE):
        return ev.PeerStatus.CONNECTING
    if state == sess.State.FAILED or peer.reason:
        return ev.PeerStatus.FAILED
    return ev.PeerStatus.ONLINE


def path_kind(session: sess.Session) -> ev.PathKind | None:
    """How the session's open path runs; None when there is none."""
    path = session.path
    if path is None or session.state != sess.State.CONNECTED:
        return None
    if isinstance(path, Via):
        return ev.PathKind.OUR_RELAY if path.relayed else ev.PathKind.SPRAYED
    return ev.PathKind.THEIR_RELAY if session.relayed else ev.PathKind.DIRECT
