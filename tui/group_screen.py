"""F3 on a group: its members, who are admins, how each is connected, and what it refused.

Names and reasons reach the screen only as Content, never as markup.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from p2ptui.net import PeerStatus, events

from .words import member_look


def group_rows(info: events.GroupInfo, me: str = "") -> list[tuple[str, str]]:
    """(label, words) about the group as a whole."""
    connected = sum(1 for member in info.members if member.status == PeerStatus.CONNECTED and member.name != me)
    admins = [member.name for member in info.members if member.admin]
    return [
        ("you", "an admin: you may invite, remove and make admins" if info.admin else "a member"),
        ("members", f"{len(info.members)}, {connected} connected to you"),
        ("admins", ", ".join(admins) or "none known"),
        ("group id", info.id),
    ]


class GroupDetailsScreen(ModalScreen[None]):
    """A group's members with their path states, and its counters of refused input."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close", show=False)]
    DEFAULT_CSS = """
    GroupDetailsScreen { align: center middle; }
    GroupDetailsScreen > Vertical {
        width: 66; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    GroupDetailsScreen VerticalScroll { height: auto; max-height: 1fr; scrollbar-size-vertical: 1; }
    GroupDetailsScreen Grid {
        grid-size: 3; grid-columns: auto auto 1fr; grid-rows: auto; height: auto; grid-gutter: 0 2;
    }
    GroupDetailsScreen #about { grid-size: 2; grid-columns: auto 1fr; }
    GroupDetailsScreen .name { color: $text-muted; }
    GroupDetailsScreen .title { text-style: bold; }
    GroupDetailsScreen #close { dock: bottom; }
    """

    def __init__(self, info: events.GroupInfo, *, me: str = "", presence_known: bool = True) -> None:
        super().__init__()
        self.info = info
        self.me = me
        self.presence_known = presence_known

    def compose(self) -> ComposeResult:
        info = self.info
        with Vertical():
            with VerticalScroll():
                yield Label(Content(f"Group #{info.group}"), classes="title")
                with Grid(id="about"):
                    for name, value in group_rows(info, self.me):
                        yield Static(Content(name), classes="name")
                        yield Static(Content(value))
                yield Label(Content("Members"), classes="title")
                with Grid():
                    for member in sorted(info.members, key=lambda m: (not m.admin, m.name)):
                        look = member_look(member.status, presence_known=self.presence_known)
                        you = member.name == self.me
                        yield Static(Content.assemble((" " if you else look.glyph, look.style), " ", member.name))
                        yield Static(Content("admin" if member.admin else "member"), classes="name")
                        yield Static(Content("you" if you else look.words))
                refused = [(str(count), why) for why, count in info.rejected]
                yield Label(Content("Refused input" if refused else "Nothing refused"),
                            classes="title" if refused else "")
                with Grid(id="refused"):
                    for count, why in refused:
                        yield Static(Content(f"{count:>6}"))
                        yield Static(Content(why), classes="name")
                        yield Static(Content(""))
            yield Label(Content.styled("Esc to close", "$text-muted"), id="close")
