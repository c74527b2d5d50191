"""Conversations and connections in words, and text fitted to a width: pure, no widgets."""

from __future__ import annotations

from dataclasses import dataclass

from p2ptui.net import PeerStatus

from .groups import describe_group
from .model import Conversation
from .rows import cells

NETWORK_WORDS = {"local": " on this machine", "lan": " over the LAN", "internet": " over the internet"}


@dataclass(frozen=True)
class StatusLook:
    """How the sidebar shows a peer's state: a glyph of its own, so colour is never the only sign."""

    glyph: str
    style: str
    words: str
    """For the help screen's legend."""


#: One entry per state, and one for a connection through a relay (a path, not a state).
STATUS_ICON: dict[PeerStatus | str, StatusLook] = {
    PeerStatus.OFFLINE: StatusLook("○", "$text-muted", "offline"),
    PeerStatus.ONLINE: StatusLook("◌", "$text", "online, not connected"),
    PeerStatus.CONNECTING: StatusLook("◐", "$warning", "connecting"),
    PeerStatus.CONNECTED: StatusLook("●", "$success", "connected directly"),
    "relay": StatusLook("◉", "$success", "connected through a relay (direct is tried again)"),
    PeerStatus.FAILED: StatusLook("✕", "$error", "no path found; trying again"),
    PeerStatus.KEY_CHANGED: StatusLook("!", "bold $error", "key changed: nothing is sent until you accept it"),
}
UNKNOWN_STATUS = StatusLook(
    "?", "$text-muted", "unknown: the signalling server does not answer, so nobody's presence is known"
)
#: What the core cannot know while the signalling server does not answer: presence.
PRESENCE = (PeerStatus.OFFLINE, PeerStatus.ONLINE)


def status_look(status: PeerStatus, path: str | None, *, presence_known: bool = True) -> StatusLook:
    if status == PeerStatus.CONNECTED and path == "relay":
        return STATUS_ICON["relay"]
    if status in PRESENCE and not presence_known:
        return UNKNOWN_STATUS
    return STATUS_ICON.get(status, UNKNOWN_STATUS)


def member_look(status: PeerStatus, *, presence_known: bool = True) -> StatusLook:
    """A group member's path to us: as a peer's, but "connected" says nothing of direct or relayed
    (the group does not know which)."""
    look = status_look(status, None, presence_known=presence_known)
    return StatusLook(look.glyph, look.style, "connected") if status == PeerStatus.CONNECTED else look


_NAT_WORDS = ("NAT", "relay is needed", "TURN")


def applicable_reason(status: PeerStatus, reason: str) -> str:
    """The core's reason for a state, less advice about NATs and relays when the peer is
    simply gone (offline: it quit, or presence lost it), where that advice never applies."""
    if status != PeerStatus.OFFLINE:
        return reason
    kept = [clause for clause in reason.split("; ") if not any(word in clause for word in _NAT_WORDS)]
    return "; ".join(kept)


def describe(conversation: Conversation, *, presence_known: bool = True) -> str:
    """The state of a conversation, in words."""
    if conversation.group is not None:
        return describe_group(conversation.group)
    status = conversation.status
    if status in PRESENCE and not presence_known:
        return "unknown: the signalling server does not answer"
    if status == PeerStatus.CONNECTED:
        if conversation.path == "relay":
            return f"connected through a relay to {conversation.remote}"
        where = NETWORK_WORDS.get(conversation.network or "", "")
        return f"connected {conversation.path}{where} to {conversation.remote}"
    if status == PeerStatus.KEY_CHANGED:
        return "KEY CHANGED, nothing is sent until you accept it: /accept-key"
    reason = applicable_reason(status, conversation.reason)
    if reason and status in (PeerStatus.FAILED, PeerStatus.OFFLINE):
        return f"{status.value}: {reason}"
    return status.value


def fit_parts(parts: list[str], width: int, separator: str = " · ") -> str:
    """parts joined by separator in at most `width` cells: whole parts while they fit;
    the first that does not is cut after a whole word, marked with "…"; the rest dropped."""
    line = ""
    for part in parts:
        joined = f"{line}{separator if line else ''}{part}"
        if cells(joined) <= width:
            line = joined
            continue
        room = width - cells(line) - (len(separator) if line else 0) - 1
        words = part.split(" ")
        kept = ""
        for word in words:
            candidate = f"{kept} {word}" if kept else word
            if cells(candidate) > room:
                break
            kept = candidate
        if kept:
            line = f"{line}{separator if line else ''}{kept.rstrip(' ·:,;')}…"
        elif line:
            line += " …" if cells(line) + 2 <= width else ""
        break
    return line


@dataclass(frozen=True)
class HelpSection:
    title: str
    rows: list[tuple[str, str]]
    """(keys or command, what it does)"""
