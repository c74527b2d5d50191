"""The app's widgets, one per module. Nothing here parses markup from data: peer
names and text become Content, or rich Segments in the log, shown literally."""

from ..words import (
    STATUS_ICON,
    UNKNOWN_STATUS,
    StatusLook,
    applicable_reason,
    describe,
    fit_parts,
    status_look,
)
from .hint import InputHint
from .input import MessageInput, Replacement
from .log import ConversationLog
from .sidebar import PeerList, activity_label, visible_peers
from .status import StatusLine

__all__ = [
    "STATUS_ICON",
    "UNKNOWN_STATUS",
    "ConversationLog",
    "InputHint",
    "MessageInput",
    "PeerList",
    "Replacement",
    "StatusLine",
    "StatusLook",
    "activity_label",
    "applicable_reason",
    "describe",
    "fit_parts",
    "status_look",
    "visible_peers",
]
