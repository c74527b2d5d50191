"""One Textual message per kind of event from the core, so the app handles each with `@on`.

`from_core` is called on the core's thread; `App.post_message` is the
thread-safe bridge. Each message carries the core's event unchanged.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from textual.message import Message

from p2ptui.net import events

from .core_thread import CoreOutput, CoreStopped

E = TypeVar("E")


class CoreMessage(Message, Generic[E]):
    """An event from the networking core, posted from the core's thread."""

    def __init__(self, event: E) -> None:
        super().__init__()
        self.event = event


class Ready(CoreMessage[events.Ready]):
    """Registered with the signalling service."""


class SignallingChanged(CoreMessage[events.SignalStatus]):
    """The signalling service answers again, or does not."""


class PeerChanged(CoreMessage[events.PeerChanged]):
    """A peer's state, path or key changed."""


class PeerForgotten(CoreMessage[events.PeerForgotten]):
    """The core let a stranger go (too many of them): its unopened conversation goes."""


class MessageReceived(CoreMessage[events.MessageReceived]):
    """A message from a peer."""


class MessageDelivered(CoreMessage[events.MessageDelivered]):
    """The peer acknowledged one of ours."""


class HistoryLoaded(CoreMessage[events.History]):
    """Stored messages of a conversation."""


class DetailsShown(CoreMessage[events.Details]):
    """How the connection to a peer stands, asked for with F3."""


class SafetyNumberShown(CoreMessage[events.SafetyNumber]):
    """The safety number of us and a peer, asked for with /verify."""


class TransferStands(CoreMessage[events.Transfer]):
    """A file transfer as it stands: after a restart, the offers and transfers not finished."""


class FileOffered(CoreMessage[events.FileOffered]):
    """A file offered, by the peer or (echoed) by us."""


class FileProgress(CoreMessage[events.FileProgress]):
    """How far a transfer has come, at most a few times a second."""


class FileReceived(CoreMessage[events.FileReceived]):
    """A file arrived whole and verified, under its final name."""


class FileSent(CoreMessage[events.FileSent]):
    """The peer verified the whole file we sent."""


class FileFailed(CoreMessage[events.FileFailed]):
    """A transfer ended without the file: failed, declined or cancelled."""


class CoreError(CoreMessage[events.Error]):
    """A command the core refused, or a problem it ran into."""


class CoreStoppedMessage(CoreMessage[CoreStopped]):
    """The core ended by itself; nothing more will come."""


class GroupShown(CoreMessage[events.GroupInfo]):
    """A group's members, admins and counters, asked for with F3."""


class GroupInvited(CoreMessage[events.GroupInvited]):
    """Someone invited us to a group."""


class GroupJoined(CoreMessage[events.GroupJoined]):
    """We joined (or created) a group."""


class MemberJoined(CoreMessage[events.MemberJoined]):
    """Someone joined one of our groups."""


class MemberLeft(CoreMessage[events.MemberLeft]):
    """Someone left one of our groups, was removed, or we were."""


class GroupChanged(CoreMessage[events.GroupChanged]):
    """A group's members, admins or their path states changed."""


class GroupMessageSent(CoreMessage[events.GroupMessageSent]):
    """Where our own group message stands in the group's order."""


_KINDS: dict[type, type[CoreMessage]] = {
    events.Ready: Ready,
    events.SignalStatus: SignallingChanged,
    events.PeerChanged: PeerChanged,
    events.PeerForgotten: PeerForgotten,
    events.MessageReceived: MessageReceived,
    events.MessageDelivered: MessageDelivered,
    events.History: HistoryLoaded,
    events.Details: DetailsShown,
    events.SafetyNumber: SafetyNumberShown,
    events.Error: CoreError,
    events.Transfer: TransferStands,
    events.FileOffered: FileOffered,
    events.FileProgress: FileProgress,
    events.FileReceived: FileReceived,
    events.FileSent: FileSent,
    events.FileFailed: FileFailed,
    CoreStopped: CoreStoppedMessage,
    events.GroupInfo: GroupShown,
    events.GroupInvited: GroupInvited,
    events.GroupJoined: GroupJoined,
    events.MemberJoined: MemberJoined,
    events.MemberLeft: MemberLeft,
    events.GroupChanged: GroupChanged,
    events.GroupMessageSent: GroupMessageSent,
}


def from_core(event: CoreOutput) -> CoreMessage | None:
    """The message for an event; None for a kind this app does not know (a newer core's)."""
    kind = _KINDS.get(type(event))
    return kind(event) if kind is not None else None
