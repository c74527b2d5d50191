"""The app's widgets: the peer sidebar, the conversation log and the status line.

Nothing here parses markup from data: peer names and text become Content or
rich Text objects, which are shown literally.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.widgets import RichLog, Static

from p2ptui.net import PeerStatus

from .model import Conversation, Line

NETWORK_WORDS = {"local": " on this machine", "lan": " over the LAN", "internet": " over the internet"}

STATUS_ICON = {
    PeerStatus.OFFLINE: ("○", "$text-muted"),
    PeerStatus.ONLINE: ("◌", "$text"),
    PeerStatus.CONNECTING: ("◐", "$warning"),
    PeerStatus.CONNECTED: ("●", "$success"),
    PeerStatus.FAILED: ("✕", "$error"),
    PeerStatus.KEY_CHANGED: ("!", "bold $error"),
}


class PeerList(Static):
    """The sidebar: every conversation with its state; the selected one marked."""

    DEFAULT_CSS = """
    PeerList { width: 24; height: 1fr; padding: 0 1; border-right: vkey $foreground 20%; }
    """

    def show(self, conversations: list[Conversation], selected: str | None) -> None:
        rows: list[Content] = [Content.styled("Peers", "bold")]
        if not conversations:
            rows.append(Content.styled("none yet: Ctrl+O", "$text-muted"))
        for index, conversation in enumerate(conversations, start=1):
            rows.append(self._row(index, conversation, conversation.peer == selected))
        self.update(Content("\n").join(rows))

    @staticmethod
    def _row(index: int, conversation: Conversation, selected: bool) -> Content:
        icon, icon_style = STATUS_ICON[conversation.status]
        marker = "▶" if selected else " "
        number = str(index) if index <= 9 else " "
        if conversation.unread:
            badge = Content.styled(f" ({conversation.unread})", "bold $accent")
        elif conversation.new:
            badge = Content.styled(" new", "bold $accent")
        else:
            badge = Content("")
        name_style = "bold reverse" if selected else ("bold" if conversation.unread or conversation.new else "")
        return Content.assemble(
            f"{marker}{number} ",
            (icon, icon_style),
            " ",
            (conversation.peer, name_style),
            badge,
        )


class ConversationLog(RichLog):
    """The selected conversation. Lines are rich Text, so no markup is ever parsed."""

    DEFAULT_CSS = """
    ConversationLog { height: 1fr; padding: 0 1; background: $surface; }
    """

    def __init__(self, **kwargs):
        super().__init__(markup=False, highlight=False, wrap=True, min_width=20, **kwargs)
        self.can_focus = False

    def show(self, conversation: Conversation | None) -> None:
        self.clear()
        if conversation is None:
            self.write(Text("Open a conversation: /open NAME or Ctrl+O.", style="dim"))
            return
        heading = f"Conversation with {conversation.peer}, {describe(conversation)}"
        self.write(Text(heading, style="dim"))
        for line in conversation.lines:
            self.add(line)

    def add(self, line: Line) -> None:
        mark = (" ✓" if line.delivered else " …") if line.own else ""
        sender = f"<{line.sender}>"
        text = Text.assemble(
            (line.at.strftime("%H:%M "), "dim"),
            (sender, "bold cyan" if line.own else "bold magenta"),
            " ",
            line.text,
            (mark, "dim"),
        )
        self.write(text)


def describe(conversation: Conversation) -> str:
    """The state of a conversation, in words."""
    status = conversation.status
    if status == PeerStatus.CONNECTED:
        where = NETWORK_WORDS.get(conversation.network or "", "")
        return f"connected {conversation.path}{where} to {conversation.remote}"
    if status == PeerStatus.KEY_CHANGED:
        return "KEY CHANGED, nothing is sent until you accept it: /accept-key"
    if conversation.reason and status in (PeerStatus.FAILED, PeerStatus.OFFLINE):
        return f"{status.value}: {conversation.reason}"
    return status.value


class StatusLine(Static):
    """Who you are, where signalling is, and the latest problem, if any."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    StatusLine.-error { background: $error 30%; }
    """
