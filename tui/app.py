"""The Textual app: a peer sidebar, the conversation log, an input line.

It is a client of the networking core through a `CoreClient` (in production
a `CoreThread`): commands go in with `submit`, events come back as
`CoreEvent` messages. Tests hand it a fake client.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from textual import on
from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from p2ptui.net import events
from p2ptui.net.signalling.messages import check_name, format_address

from .core_thread import AcceptKey, CoreClient, OpenPeer, SendText, ShowDetails
from .keys import use_escape_digit_as_alt
from .model import Conversation, Line
from .sanitize import sanitize
from .widgets import ConversationLog, PeerList, StatusLine, describe

use_escape_digit_as_alt()

HELP = (
    "Commands: /open NAME, /details, /accept-key, /quit, /help. Keys: Ctrl+N/Ctrl+P next/previous peer, "
    "Alt+1..9 jump, Ctrl+O open, F3 connection details, PageUp/PageDown scroll (Home/End with an empty "
    "input), Ctrl+Q quit."
)


class CoreEvent(Message):
    """An event from the networking core, posted from the core's thread."""

    def __init__(self, event: events.NodeEvent) -> None:
        super().__init__()
        self.event = event


class OpenPeerScreen(ModalScreen[str | None]):
    """Ask for the name of a peer to open a conversation with."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    OpenPeerScreen { align: center middle; }
    OpenPeerScreen > Vertical { width: 44; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    OpenPeerScreen Label { margin-bottom: 1; }
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
            check_name(name)
        except ValueError as exc:
            self.query_one("#open-error", Label).update(Content(str(exc)))
            return
        self.dismiss(name)


class KeyChangedScreen(ModalScreen[bool]):
    """The peer's key is not the pinned one: say so plainly, and accept only on request."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Not now")]
    DEFAULT_CSS = """
    KeyChangedScreen { align: center middle; }
    KeyChangedScreen > Vertical { width: 64; height: auto; border: round $error; padding: 0 1; background: $surface; }
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
    DetailsScreen > Vertical { width: 66; max-height: 100%; height: auto; border: round $accent; padding: 0 1; background: $surface; }
    """

    def __init__(self, details: events.Details) -> None:
        super().__init__()
        self.details = details

    def compose(self) -> ComposeResult:
        plain = [(name, value) for name, value in self.details.items if not name.startswith("dropped")]
        dropped = [(name.partition(": ")[2], value) for name, value in self.details.items if name.startswith("dropped")]
        width = max((len(name) for name, _ in plain), default=0)
        rows = [Content.styled(f"Connection with {self.details.peer}", "bold")]
        rows += [Content.assemble((name.ljust(width), "$text-muted"), "  ", value) for name, value in plain]
        rows.append(Content.styled("Dropped datagrams and records", "bold") if dropped else Content("Nothing dropped"))
        rows += [Content.assemble(f"{value:>6}  ", (why, "$text-muted")) for why, value in dropped]
        with Vertical():
            yield Static(Content("\n").join(rows))
            yield Label(Content.styled("Esc to close", "$text-muted"))


class P2PApp(App[None]):
    TITLE = "p2ptui"
    CSS = """
    #main { height: 1fr; }
    #conversation { width: 1fr; }
    #input { dock: bottom; }
    Screen.-wide #sidebar { width: 32; }
    """
    # The sidebar widens on wide terminals.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    # Ctrl+P is "previous peer" here, as in WeeChat and irssi.
    COMMAND_PALETTE_BINDING = "f2"
    BINDINGS = [
        Binding("ctrl+n", "next_peer", "Next peer", priority=True),
        Binding("ctrl+p", "previous_peer", "Prev peer", priority=True),
        Binding("ctrl+o", "open_dialog", "Open", priority=True),
        Binding("f3", "details", "Details", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        *(
            Binding(f"alt+{n}", f"jump({n})", f"Peer {n}", show=False, priority=True)
            for n in range(1, 10)
        ),
        # Scrollback while the input keeps focus. PageUp/PageDown reach the app through
        # tmux and SSH (Ctrl+Home/End often do not); Home/End scroll only when the input
        # is empty, and otherwise move its cursor as usual.
        Binding("pageup", "scroll_log('page_up')", "Scroll up", show=False, priority=True),
        Binding("pagedown", "scroll_log('page_down')", "Scroll down", show=False, priority=True),
        Binding("home", "scroll_log('start')", "Oldest", show=False, priority=True),
        Binding("end", "scroll_log('end')", "Newest", show=False, priority=True),
    ]

    def __init__(
        self,
        client: CoreClient,
        *,
        me: str,
        signal: str,
        peers: Iterable[str] = (),
        clock: Callable[[], datetime] = datetime.now,
    ):
        super().__init__()
        self.client = client
        self.me = me
        self.signal = signal
        self.clock = clock
        self.conversations: dict[str, Conversation] = {}
        self.selected: str | None = None
        self._initial_peers = list(peers)
        self._status = f"connecting to {signal}…"
        self._error = ""

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield PeerList(id="sidebar")
            with Vertical(id="conversation"):
                yield ConversationLog(me=self.me, id="log")
                yield Input(placeholder="Type a message, or /help", id="input")
        yield Footer()

    def on_mount(self) -> None:
        # The core starts once the first frame is up: its thread imports trio and
        # the crypto, which would otherwise hold up that frame for the GIL. What
        # is submitted before then waits in the core's queue.
        self.call_after_refresh(self.client.start, self.post_message_from_core)
        for name in self._initial_peers:
            self.open_conversation(name)
        self._refresh_all()
        self.query_one("#input", Input).focus()

    def on_unmount(self) -> None:
        self.client.stop()

    def post_message_from_core(self, event: events.NodeEvent) -> None:
        """Called on the core's thread: hand over without blocking either side."""
        self.post_message(CoreEvent(event))

    # --- Conversations -----------------------------------------------------------------

    def open_conversation(self, name: str, *, select: bool = True) -> None:
        try:
            check_name(name)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        if name == self.me:
            self.show_error("that is you; open a conversation with someone else")
            return
        if name not in self.conversations:
            self.conversations[name] = Conversation(name)
            self.client.submit(OpenPeer(name))
        if select:
            self.select(name)
        else:
            self._refresh_sidebar()

    def select(self, name: str | None) -> None:
        if name != self.selected:
            if self.selected in self.conversations:
                self.conversations[self.selected].close()
            self.selected = name
            if name is not None:
                self.conversations[name].open()
            self._refresh_log()
        self._refresh_status()
        self._refresh_sidebar()

    def _ordered(self) -> list[Conversation]:
        return list(self.conversations.values())

    def _move(self, step: int) -> None:
        names = list(self.conversations)
        if not names:
            return
        index = names.index(self.selected) if self.selected in names else -step
        self.select(names[(index + step) % len(names)])

    # --- Actions -------------------------------------------------------------------------

    def action_next_peer(self) -> None:
        self._move(+1)

    def action_previous_peer(self) -> None:
        self._move(-1)

    def action_jump(self, number: int) -> None:
        names = list(self.conversations)
        if 1 <= number <= len(names):
            self.select(names[number - 1])

    def action_open_dialog(self) -> None:
        def opened(name: str | None) -> None:
            if name:
                self.open_conversation(name)

        self.push_screen(OpenPeerScreen(), opened)

    def action_details(self) -> None:
        if self.selected is None:
            self.show_error("no conversation selected")
        else:
            self.client.submit(ShowDetails(self.selected))

    def action_scroll_log(self, where: str) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # The keys belong to the dialog.
        if where in ("start", "end") and self.query_one("#input", Input).value:
            raise SkipAction()  # Home/End move the cursor in what is being typed.
        log = self.query_one("#log", ConversationLog)
        match where:
            case "page_up":
                log.page_up()
            case "page_down":
                log.page_down()
            case "start":
                log.scroll_to_start()
            case "end":
                log.follow()

    def action_review_key(self, peer: str) -> None:
        conversation = self.conversations.get(peer)
        if conversation is None or conversation.status != events.PeerStatus.KEY_CHANGED:
            self.show_error(f"{peer}'s key has not changed")
            return
        if isinstance(self.screen, KeyChangedScreen):
            return

        def decided(accept: bool | None) -> None:
            if accept:
                self.client.submit(AcceptKey(peer))
                self.show_info(f"{peer}'s new key is trusted from now on")

        self.push_screen(KeyChangedScreen(conversation), decided)

    @on(Input.Submitted, "#input")
    def _input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        event.input.clear()
        if not text.strip():
            return
        if text.startswith("/"):
            self._command(text)
        elif self.selected is None:
            self.show_error("no conversation open: /open NAME first")
        else:
            self._send(self.selected, text)

    def _command(self, text: str) -> None:
        command, _, argument = text.strip().partition(" ")
        match command:
            case "/open":
                if argument.strip():
                    self.open_conversation(argument.strip())
                else:
                    self.action_open_dialog()
            case "/quit":
                self.exit()
            case "/details":
                self.action_details()
            case "/accept-key":
                if self.selected is not None:
                    self.action_review_key(self.selected)
            case "/help":
                self.show_info(HELP)
            case _:
                self.show_error(f"unknown command {command}; /help lists them")

    def _send(self, peer: str, text: str) -> None:
        message_id = secrets.token_hex(8)
        self._add_message(peer, Line(self.clock(), self.me, sanitize(text), own=True, id=message_id))
        self.client.submit(SendText(peer, text, message_id))

    def _add_message(self, peer: str, line: Line) -> None:
        conversation = self.conversations.setdefault(peer, Conversation(peer))
        conversation.add(line, shown=peer == self.selected)
        if peer == self.selected:
            self.query_one("#log", ConversationLog).add(line)
        self._refresh_sidebar()  # The unread count and the time.

    def _add_system_line(self, conversation: Conversation, text: str) -> None:
        line = conversation.add_system(self.clock(), text)
        if conversation.peer == self.selected:
            self.query_one("#log", ConversationLog).add(line)

    # --- Events from the core ---------------------------------------------------------------

    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        match message.event:
            case events.Ready(signal=signal, address=address, nat=nat_type):
                self._status = f"{signal} · {format_address(address)} · NAT: {nat_type}"
                self._error = ""
            case events.SignalStatus(connected=True):
                self._error = ""
            case events.SignalStatus(connected=False, message=text):
                self._error = text
            case events.PeerChanged() as changed:
                self._peer_changed(changed)
                return
            case events.MessageReceived(peer=peer, id=message_id, text=text):
                self._message_received(peer, message_id, text)
                return
            case events.MessageDelivered(peer=peer, id=message_id):
                conversation = self.conversations.get(peer)
                if conversation and conversation.mark_delivered(message_id) and peer == self.selected:
                    self.query_one("#log", ConversationLog).refresh()
                return
            case events.History(peer=peer, messages=messages):
                self._history(peer, messages)
                return
            case events.Details() as details:
                self.push_screen(DetailsScreen(details))
                return
            case events.Error(message=text):
                self._error = text
        self._refresh_status()

    def _history(self, peer: str, messages: tuple) -> None:
        conversation = self.conversations.setdefault(peer, Conversation(peer))
        lines = [
            Line(
                datetime.fromtimestamp(m.at),
                self.me if m.outgoing else peer,
                sanitize(m.text),
                own=m.outgoing,
                id=m.id,
                delivered=m.delivered,
            )
            for m in messages
        ]
        conversation.add_history(lines)
        if peer == self.selected:
            self._refresh_log()
        self._refresh_sidebar()  # The time of the last message.

    def _peer_changed(self, changed: events.PeerChanged) -> None:
        conversation = self.conversations.get(changed.peer)
        if conversation is None:
            conversation = self.conversations[changed.peer] = Conversation(changed.peer)
            conversation.new = changed.incoming
        before = (conversation.status, conversation.path, conversation.remote)
        conversation.status = changed.status
        conversation.path = changed.path
        conversation.network = changed.network
        conversation.remote = format_address(changed.remote) if changed.remote else ""
        conversation.reason = changed.reason
        conversation.fingerprint = changed.fingerprint or conversation.fingerprint
        conversation.new_fingerprint = changed.new_fingerprint
        self._log_connection_change(conversation, before)
        if changed.status == events.PeerStatus.KEY_CHANGED:
            self.action_review_key(changed.peer)
        if self.selected is None:
            self.select(changed.peer)
            return
        self._refresh_sidebar()
        if changed.peer == self.selected:
            self.query_one("#log", ConversationLog).update_title()

    def _log_connection_change(
        self, conversation: Conversation, before: tuple[events.PeerStatus, str | None, str]
    ) -> None:
        """A line in the log when the path comes, changes or goes, and when the key changes."""
        was, now = before[0], conversation.status
        if now == events.PeerStatus.KEY_CHANGED and was != now:
            self._add_system_line(
                conversation, f"{conversation.peer}'s key has changed: nothing is sent until you /accept-key"
            )
        elif now == events.PeerStatus.CONNECTED and before != (now, conversation.path, conversation.remote):
            self._add_system_line(conversation, describe(conversation))
        elif was == events.PeerStatus.CONNECTED and now != was:
            reason = f": {conversation.reason}" if conversation.reason else ""
            self._add_system_line(conversation, f"connection lost, now {now.value}{reason}")

    def _message_received(self, peer: str, message_id: str, text: str) -> None:
        self._add_message(peer, Line(self.clock(), peer, sanitize(text), id=message_id))

    # --- Showing ---------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self._error = text
        self._refresh_status()

    def show_info(self, text: str) -> None:
        self.notify(Content(text), timeout=8)

    def _refresh_all(self) -> None:
        self._refresh_status()
        self._refresh_sidebar()
        self._refresh_log()

    def _refresh_status(self) -> None:
        status = self.query_one("#status", StatusLine)
        status.set_class(bool(self._error), "-error")
        text = f"{self.me} · {self._status}"
        status.update(Content(f"{text} · {self._error}" if self._error else text))

    def _refresh_sidebar(self) -> None:
        self.query_one("#sidebar", PeerList).show(self._ordered(), self.selected, self.clock())

    def _refresh_log(self) -> None:
        conversation = self.conversations.get(self.selected) if self.selected else None
        self.query_one("#log", ConversationLog).show(conversation)

