"""The app's dialogs: open, the quick switcher, help, a changed key, connection details.

Text from peers or the network reaches these only as Content (or plain
strings in Textual's `Content(...)`), never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.style import Style
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from p2ptui.net import PeerStatus, events

from .details import details_rows, dropped_rows, network_rows
from .model import Conversation
from .settings import check_user_name
from .transfers import transfer_rows
from .words import HelpSection, status_look


class OpenPeerScreen(ModalScreen[str | None]):
    """Ask for the name of a peer to open a conversation with."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    OpenPeerScreen { align: center middle; }
    OpenPeerScreen > Vertical { width: 44; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    OpenPeerScreen Label { margin-bottom: 1; }
    OpenPeerScreen #open-error { width: 100%; height: auto; margin-bottom: 0; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Open a conversation with:")
            yield Input(placeholder="peer name", id="peer-name")
            yield Label("", id="open-error")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        try:
            check_user_name(name)
        except ValueError as exc:
            self.query_one("#open-error", Label).update(Content(str(exc)))
            return
        self.dismiss(name)


class KeyChangedScreen(ModalScreen[bool]):
    """The peer's key is not the pinned one: say so plainly, and accept only on request."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Not now")]
    DEFAULT_CSS = """
    KeyChangedScreen { align: center middle; }
    KeyChangedScreen > Vertical {
        width: 64; max-width: 100%; height: auto; border: round $error; padding: 0 1; background: $surface;
    }
    KeyChangedScreen .fingerprint { text-style: bold; }
    KeyChangedScreen #explanation { width: 100%; margin-top: 1; }
    KeyChangedScreen Horizontal { height: auto; margin-top: 1; }
    KeyChangedScreen Button { margin-right: 2; }
    """

    def __init__(self, conversation: Conversation) -> None:
        super().__init__()
        self.conversation = conversation

    def compose(self) -> ComposeResult:
        peer = self.conversation.peer
        with Vertical():
            yield Label(Content.styled(f"{peer}'s key has changed", "bold $error"))
            yield Label("The key you trusted for them:")
            yield Label(Content(self.conversation.fingerprint or "unknown"), classes="fingerprint")
            yield Label("The key they show now:")
            yield Label(Content(self.conversation.new_fingerprint or "unknown"), classes="fingerprint")
            yield Static(
                Content(
                    f"Either {peer} has a new key (a new device, a reinstall) or someone is "
                    f"pretending to be {peer}. Nothing is sent to them until you accept. Ask "
                    f"{peer}, another way, to run `p2ptui fingerprint` and compare."
                ),
                id="explanation",
            )
            with Horizontal():
                yield Button("Not now", id="reject", variant="primary")
                yield Button("Trust the new key", id="accept", variant="error")

    def on_mount(self) -> None:
        self.query_one("#reject", Button).focus()  # The safe choice is the default.

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")


class DetailsScreen(ModalScreen[None]):
    """The connection to one peer: path, addresses, keys, and what was dropped."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close", show=False)]
    DEFAULT_CSS = """
    DetailsScreen { align: center middle; }
    DetailsScreen > Vertical {
        width: 66; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    DetailsScreen VerticalScroll { height: auto; max-height: 1fr; scrollbar-size-vertical: 1; }
    DetailsScreen Grid { grid-size: 2; grid-columns: auto 1fr; grid-rows: auto; height: auto; grid-gutter: 0 2; }
    DetailsScreen .name { color: $text-muted; }
    DetailsScreen .title { text-style: bold; }
    DetailsScreen #close { dock: bottom; }
    """

    def __init__(self, details: events.Details) -> None:
        super().__init__()
        self.details = details

    def compose(self) -> ComposeResult:
        plain, dropped = details_rows(self.details), dropped_rows(self.details)
        network = network_rows(self.details.net_report)
        files = transfer_rows(self.details.transfers)
        with Vertical():
            with VerticalScroll():
                yield Label(Content(f"Connection with {self.details.peer}"), classes="title")
                yield from self._rows(plain)
                if files:
                    yield Label(Content("Files"), classes="title")
                    yield from self._rows(files)
                if network:
                    yield Label(Content("Your network"), classes="title")
                    yield from self._rows(network)
                yield Label(Content("Dropped datagrams and records" if dropped else "Nothing dropped"),
                            classes="title" if dropped else "")
                with Grid():
                    for count, why in dropped:
                        yield Static(Content(f"{count:>6}"))
                        yield Static(Content(why), classes="name")
            yield Label(Content.styled("Esc to close", "$text-muted"), id="close")

    @staticmethod
    def _rows(rows: list[tuple[str, str]]) -> ComposeResult:
        # A value too long for its column wraps under itself, not under the names.
        with Grid():
            for name, value in rows:
                yield Static(Content(name), classes="name")
                yield Static(Content(value))


@dataclass(frozen=True)
class SwitchTarget:
    """A conversation the quick switcher can go to."""

    name: str
    status: PeerStatus
    unread: int = 0
    closed: bool = False
    path: str | None = None


class QuickSwitcher(ModalScreen[str | None]):
    """Ctrl+K: type a few letters of a name, Enter to go there.

    Letters match in order anywhere in a name (`ae` finds `alice`), best
    first, as in Textual's command palette. A valid name that is not in the
    list can be opened as a new conversation. Closed conversations are listed
    after the open ones. Returns the chosen name, or None.
    """

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
    ]
    DEFAULT_CSS = """
    QuickSwitcher { align: center top; }
    QuickSwitcher > Vertical {
        width: 56; max-width: 100%; height: auto; max-height: 90%; margin-top: 2;
        border: round $accent; padding: 0 1; background: $surface;
    }
    QuickSwitcher Input { margin-bottom: 1; }
    QuickSwitcher OptionList { height: auto; max-height: 12; border: none; padding: 0; }
    QuickSwitcher .hint { color: $text-muted; }
    """

    def __init__(self, targets: list[SwitchTarget], me: str) -> None:
        super().__init__()
        self.targets = targets
        self.me = me
        self._choices: list[str] = []
        """The name behind each option shown, in order."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content.styled("Switch to a conversation", "bold"))
            yield Input(placeholder="letters of a name, or a new name", id="switch-query")
            yield OptionList(id="switch-options")
            yield Label("↑↓ choose · Enter go · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self._filter("")
        self.query_one("#switch-query", Input).focus()

    @on(Input.Changed, "#switch-query")
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value.strip())

    def _filter(self, query: str) -> None:
        options: list[Option] = []
        self._choices = []
        matcher = Matcher(query, match_style=Style(bold=True, underline=True))
        scored = [
            (matcher.match(target.name) if query else 1.0, order, target) for order, target in enumerate(self.targets)
        ]
        matches = sorted((item for item in scored if item[0] > 0), key=lambda item: (item[2].closed, -item[0], item[1]))
        for _, _, target in matches:
            name = matcher.highlight(target.name) if query else Content(target.name)
            options.append(Option(self._prompt(target, name)))
            self._choices.append(target.name)
        if query and self._can_open(query):
            options.append(Option(Content.assemble("+ open a new conversation with ", (query, "bold"))))
            self._choices.append(query)
        option_list = self.query_one("#switch-options", OptionList)
        option_list.set_options(options)
        option_list.display = bool(options)
        if options:
            option_list.highlighted = 0

    def _can_open(self, name: str) -> bool:
        if name == self.me or any(target.name == name for target in self.targets):
            return False
        try:
            check_user_name(name)
        except ValueError:
            return False
        return True

    @staticmethod
    def _prompt(target: SwitchTarget, name: Content) -> Content:
        look = status_look(target.status, target.path)
        parts: list[Content | str | tuple[str, str]] = [(look.glyph, look.style), " ", name]
        if target.unread:
            parts.append((f" ({target.unread})", "bold $text-accent"))
        if target.closed:
            parts.append((" closed", "$text-muted"))
        return Content.assemble(*parts)

    def action_move(self, step: int) -> None:
        option_list = self.query_one("#switch-options", OptionList)
        if option_list.option_count:
            option_list.highlighted = ((option_list.highlighted or 0) + step) % option_list.option_count

    @on(Input.Submitted, "#switch-query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        highlighted = self.query_one("#switch-options", OptionList).highlighted
        if highlighted is not None and highlighted < len(self._choices):
            self.dismiss(self._choices[highlighted])

    @on(OptionList.OptionSelected, "#switch-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[event.option_index])


class HelpScreen(ModalScreen[None]):
    """Every key and command, from the tables the app runs on (see `P2PApp.help_sections`)."""

    BINDINGS = [
        Binding("escape,f1,question_mark,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90; max-width: 100%; height: 100%; max-height: 40;
        border: round $accent; padding: 0 1; background: $surface;
    }
    HelpScreen VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    HelpScreen .section { text-style: bold; margin-top: 1; }
    HelpScreen Grid { grid-size: 2; grid-columns: 22 1fr; grid-rows: auto; height: auto; grid-gutter: 0 1; }
    HelpScreen .keys { color: $text-accent; }
    HelpScreen .hint { color: $text-muted; }
    """

    def __init__(self, sections: list[HelpSection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content.styled("p2ptui: keys and commands", "bold"))
            with VerticalScroll(id="help-body"):
                for section in self.sections:
                    yield Label(Content(section.title), classes="section")
                    with Grid():
                        for keys, what in section.rows:
                            yield Static(Content(keys), classes="keys")
                            yield Static(Content(what))
            yield Label("↑↓ PgUp PgDn scroll · Esc, F1 or ? close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()
