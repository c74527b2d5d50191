"""Groups on the node: the application's API for them, and their records on the sessions.

A mixin of `Node` (node.py), as node_details.py is. The groups themselves
are net/groups/ (free of the network); this carries out what they ask: a
record for a member goes over the pairwise session with it (made on demand,
punched, relayed or sprayed as any other), under the key the signed log gives
it, which must be the one pinned for its name; what arrives on a session for
APP_GROUPS goes to them (`GroupsApp`, one of Peers.apps), and a session that
(re)connects starts a reconciliation. Members are kept as chosen peers (their
keys pinned), never as strangers; one the user never opened is `member_only`.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

import trio

from . import events as ev
from . import session as sess
from .errors import ConfigError, EnvironmentFailure, LocalProtocolError
from .groups import Groups, GroupStore, Send
from .identity import Identity
from .nodeconfig import NodeConfig
from .peers import Peer, Peers
from .signalling import check_name
from .trust import KnownPeers

log = logging.getLogger(__name__)



class GroupsApp:
    """The groups' side of every session: a PeerApp (net/peer_app.py)."""

    def __init__(self, node: NodeGroups) -> None:
        self._node = node

    def session_event(self, peer: Peer, event: sess.Event) -> list[ev.NodeEvent]:
        groups = self._node._groups
        try:
            match event:
                case sess.Connected() if peer.key:
                    groups.connected(peer.name, peer.key)
                case sess.ControlReceived(app=sess.APP_GROUPS, payload=payload) if peer.key:
                    groups.received(peer.name, peer.key, payload)
                case sess.MessageReceived() if peer.member_only:
                    # It wrote to us: a conversation now, whose state is told again (after
                    # the message), or the application would show it offline until it changed.
                    peer.member_only, peer.announced = False, False
        except EnvironmentFailure as exc:
            # A full disk: what was not stored comes again with the next reconciliation.
            log.warning("%s", exc)
            self._node.dropped["group records not stored"] += 1
            return [ev.Error(str(exc), peer.name), *self._node._carry_out(emit=False)]
        return self._node._carry_out(emit=False)

    def pumped(self, peer: Peer) -> list[ev.NodeEvent]:
        return []


class NodeGroups:
    """Groups: the API and the carrying out (a mixin: the parts are `Node`'s)."""

    # What `Node` holds.
    name: str
    identity: Identity
    config: NodeConfig
    dropped: Counter[str]
    known_peers: KnownPeers
    _peers: Peers
    _nursery: trio.Nursery | None
    _send_events: trio.MemorySendChannel[ev.NodeEvent]
    _groups: Groups

    if TYPE_CHECKING:  # NodeTasks' (node_tasks.py).

        def _peer(self, name: str, incoming: bool = False) -> Peer: ...

        async def _emit(self, event: ev.NodeEvent) -> None: ...

    def _start_groups(self) -> None:
        """Build the groups part and hook it to the peers (from Node.__init__)."""
        self._groups = Groups(
            self.identity, self.name, GroupStore(self.config.state_dir), self.dropped, self._member_status
        )
        self._peers.apps.append(GroupsApp(self))
        self._peers.is_member = self._is_member
        told = self._peers.on_status

        def on_status(peer: Peer) -> None:
            told(peer)
            self._member_changed(peer)

        self._peers.on_status = on_status

    def _reach_members(self) -> None:
        """A session with every member of our groups (made on demand; from open_node)."""
        for name, key in self._groups.reachable().items():
            self._member_peer(name, key)

    # --- The application's API ------------------------------------------------------

    def create_group(self, name: str) -> str:
        """A new group called name, with us as its creator and first admin: its id (32 hex digits)."""
        group_id = self._groups.create(name)
        self._carry_out()
        return group_id

    def invite(self, group: str, peer: str) -> None:
        """Add peer to the group (we must be an admin) and invite it. Its key is the one
        pinned for it: ConfigError if none is (open a conversation with it first)."""
        check_name(peer)
        key = self.known_peers.pinned(peer)
        if key is None:
            known = self._peers.get(peer)
            key = known.key if known is not None and known.key and not known.changed_key else None
        if key is None:
            raise ConfigError(f"{peer}'s key is not known yet: open a conversation with {peer} first")
        self._groups.invite(group, peer, key)
        self._carry_out()

    def join(self, group: str) -> None:
        """Accept the invitation to group."""
        self._groups.join(group)
        self._carry_out()
        for member in self._groups.group(group).membership.members.values():
            peer = self._peers.get(member.name)
            if peer is not None and not peer.opened and not peer.member_only and peer.announced:
                # A member that reached us before we joined came as a stranger: the group's
                # only now, told again as such (the application takes it out of the sidebar).
                peer.member_only, peer.announced = True, False
                if self._nursery is not None:
                    self._nursery.start_soon(self._peers.update_status, peer)

    def ignore_invite(self, group: str) -> None:
        self._groups.ignore_invite(group)
        self._carry_out()

    def leave(self, group: str) -> None:
        self._groups.leave(group)
        self._carry_out()

    def kick(self, group: str, peer: str) -> None:
        """Remove peer from the group (we must be an admin)."""
        self._groups.kick(group, peer)
        self._carry_out()

    def make_admin(self, group: str, peer: str) -> None:
        self._groups.make_admin(group, peer)
        self._carry_out()

    def send_group(self, group: str, text: str, *, message_id: str | None = None) -> str:
        """Our message to every member of group: stored before this returns, then sent;
        its id. Members offline now get it when they next meet any member who has it."""
        message_id = self._groups.send(group, text, message_id)
        self._carry_out()
        return message_id

    def groups(self) -> list[ev.GroupInfo]:
        """Every group we are in (or were: its history stays), oldest first."""
        return [self._groups.info(self._groups.group(name)) for name in self._groups.names()]

    def group_details(self, group: str) -> ev.GroupInfo:
        return self._groups.info(self._groups.group(group))

    def group_history(self, group: str, limit: int = 500, before: str | None = None) -> ev.History:
        """The group's last `limit` messages in its order (History.peer is "#NAME",
        StoredMessage.peer the author); with before (a message id), the page before it."""
        return self._groups.history(group, limit, before)

    def group_unshown(self, group: str) -> list[ev.MessageReceived]:
        """The group's messages stored but never marked shown (the application was killed
        first), in the group's order: show them, then `mark_group_shown` each."""
        return self._groups.unshown(group)

    def mark_group_shown(self, group: str, message_id: str) -> None:
        """The application has shown this group message: `group_unshown` leaves it out.
        Not noted on a full disk: then it is shown again after a restart (logged)."""
        try:
            self._groups.store.shown(self._groups.group(group).id, message_id)
        except EnvironmentFailure as exc:
            log.warning("%s", exc)

    # --- Carrying out -----------------------------------------------------------------

    def _carry_out(self, *, emit: bool = True) -> list[ev.NodeEvent]:
        """Send what the groups ask to send; tell (emit) or return what they tell."""
        events, sends = self._groups.take()
        for send in sends:
            self._deliver(send)
        self._reach_members()
        if emit:
            for event in events:
                self._tell(event)
            return []
        return events

    def _deliver(self, send: Send) -> None:
        peer = self._member_peer(send.peer, send.key)
        if peer is None:
            return
        try:
            peer.session.send_control(sess.APP_GROUPS, send.payload, trio.current_time())
        except (LocalProtocolError, ValueError) as exc:  # A closed session: reconciliation makes up for it.
            log.info("group record for %s not sent: %s", send.peer, exc)
            return
        peer.wake()

    def _member_peer(self, name: str, key: bytes) -> Peer | None:
        """The session to member name, made if new, if key is the one pinned for name
        (pinned now if none is). Another pinned key is a key change for the user."""
        if name == self.name or self._nursery is None:
            return None
        pinned = self.known_peers.pinned(name)
        if pinned is None:
            try:
                self.known_peers.check(name, key.hex())
            except EnvironmentFailure as exc:  # Pinned in memory for this run all the same.
                log.warning("%s: %s's key is remembered until you quit", exc, name)
        elif pinned != key.hex():
            self.dropped["group member whose key is not the pinned one"] += 1
            return None
        peer = self._peers.get(name)
        if peer is None:
            peer = self._peer(name)
            peer.member_only = not peer.opened
        return peer

    def _tell(self, event: ev.NodeEvent) -> None:
        """Emit from synchronous code, in order while the channel has room."""
        try:
            self._send_events.send_nowait(event)
        except trio.WouldBlock:
            if self._nursery is not None:
                self._nursery.start_soon(self._emit, event)

    def _member_status(self, name: str) -> ev.PeerStatus:
        peer = self._peers.get(name)
        return peer.status.value if peer is not None else ev.PeerStatus.OFFLINE

    def _is_member(self, name: str) -> bool:
        return name in self._groups.reachable()

    def _member_changed(self, peer: Peer) -> None:
        """A member's path state changed: its groups' members' list with it."""
        if self._nursery is None or not self._is_member(peer.name):
            return
        for name in self._groups.names():
            group = self._groups.group(name)
            if group.member and any(m.name == peer.name for m in group.membership.members.values()):
                self._tell(ev.GroupChanged(self._groups.info(group)))
