"""The Textual app: a peer sidebar, the conversation log, an input.

It is a client of the networking core through a `CoreClient` (in production
a `CoreThread`): commands go in with `submit`, events come back as one
Textual message per kind (`messages`), handled in `follow.CoreFollower`.
Tests hand it a fake client.

What it shows follows its state: the selected conversation is a reactive
attribute, and every change to a conversation ends in `publish`, which hands
the sidebar and the status line their (reactive) snapshots; they redraw only
when those changed. Which conversation a key leads to is the pure model's
(`model.Conversations`).

Every key is a Binding and every slash command a row of `commands.COMMANDS`,
run through one table of handlers; the help screen and the command palette
are made from those, so they list what the app really does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import events as textual_events
from textual.actions import SkipAction
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Footer

from p2ptui.net import ConfigError, events

from .commands import BY_NAME, COMMANDS, Command, completions, parse
from .core_thread import (
    AcceptKey,
    CoreClient,
    CoreOutput,
    LoadOlder,
    OpenPeer,
    SendText,
    ShowDetails,
)
from .follow import ERROR_TOAST_SECONDS, CoreFollower
from .keys import KeysInOrder, describe_keys, use_escape_as_alt
from .messages import from_core
from .model import Conversation, Conversations, Line
from .sanitize import sanitize
from .screens import (
    DetailsScreen,
    HelpScreen,
    HelpSection,
    KeyChangedScreen,
    OpenPeerScreen,
    QuickSwitcher,
    SwitchTarget,
)
from .settings import check_user_name, save_settings
from .widgets import ConversationLog, MessageInput, PeerList, StatusLine
from .widgets.sidebar import SidebarRow
from .words import STATUS_ICON

use_escape_as_alt()

__all__ = ["DetailsScreen", "KeyChangedScreen", "OpenPeerScreen", "P2PApp"]


JUMP = Binding.Group("the Nth conversation in the sidebar (its number there)")
SCROLL = Binding.Group("scroll the conversation back and forward; the input keeps what you are typing")
ENDS = Binding.Group("the oldest and the newest message, when the input is empty")


class P2PApp(CoreFollower):
    TITLE = "p2ptui"
    CSS = """
    /* Toasts at the top right, over the oldest rows in view: never over what is being typed. */
    ToastRack { dock: top; align: right top; margin-top: 1; margin-bottom: 0; }
    Toast { max-width: 60%; }
    #main { height: 1fr; }
    #conversation { width: 1fr; }
    Screen.-wide #sidebar { width: 32; }
    Screen.-small #sidebar { width: 18; }
    """
    # The sidebar widens on wide terminals, and narrows on small ones (60 columns) to leave the log room.
    HORIZONTAL_BREAKPOINTS = [(0, "-small"), (70, "-narrow"), (120, "-wide")]
    # Ctrl+P is "previous peer" here, as in WeeChat and irssi.
    COMMAND_PALETTE_BINDING = "f2"
    # Function keys and Ctrl or Alt with a letter reach the app through tmux and SSH;
    # Ctrl+B does not (it is tmux's prefix), so the sidebar is on F4. Priority
    # bindings act while the input has focus; each one a dialog needs for itself
    # (Ctrl+K deletes to the end of an Input) skips while a dialog is up.
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", tooltip="every key and command (? only when the input is empty)"),
        Binding("ctrl+k", "quick_switch", "Switch", priority=True,
                tooltip="switch to a conversation by typing letters of its name, or open a new one"),
        Binding("ctrl+n,alt+down", "next_peer", "Next peer", show=False, priority=True,
                tooltip="the next conversation in the sidebar"),
        Binding("ctrl+p,alt+up", "previous_peer", "Prev peer", show=False, priority=True,
                tooltip="the previous conversation in the sidebar"),
        Binding("alt+a", "next_unread", "Next unread", show=False, priority=True,
                tooltip="the next conversation with unread messages"),
        *(
            Binding(f"alt+{n}", f"jump({n})", f"Peer {n}", show=False, priority=True, group=JUMP)
            for n in range(1, 10)
        ),
        Binding("ctrl+o", "open_dialog", "Open", priority=True, tooltip="open a conversation with someone new"),
        Binding("f3", "details", "Details", priority=True,
                tooltip="the connection to the selected peer: path, round trip, keys, drop counters"),
        Binding("f4", "toggle_sidebar", "Sidebar", priority=True, tooltip="hide or show the sidebar"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="quit p2ptui"),
        # Scrollback while the input keeps focus. PageUp/PageDown reach the app through
        # tmux and SSH (Ctrl+Home/End often do not); Home/End scroll only when the input
        # is empty, and otherwise move its cursor as usual.
        Binding("pageup", "scroll_log('page_up')", "Scroll up", show=False, priority=True, group=SCROLL),
        Binding("pagedown", "scroll_log('page_down')", "Scroll down", show=False, priority=True, group=SCROLL),
        Binding("home", "scroll_log('start')", "Oldest", show=False, priority=True, group=ENDS),
        Binding("end", "scroll_log('end')", "Newest", show=False, priority=True, group=ENDS),
    ]

    selected: reactive[str | None] = reactive(None, init=False)
    """The conversation shown."""

    def __init__(
        self,
        client: CoreClient,
        *,
        me: str,
        signal: str,
        peers: Iterable[str] = (),
        clock: Callable[[], datetime] = datetime.now,
        theme: str | None = None,
        bell: bool = False,
        config_dir: Path | None = None,
        warnings: Iterable[str] = (),
    ):
        """`theme` and `bell` are the settings from config.toml; with `config_dir`,
        changing them in the app saves them there. `warnings` are fallbacks the
        settings took (an unknown key, an empty --name): each is said once."""
        super().__init__()
        self.client = client
        self.me = me
        self.signal = signal
        self.clock = clock
        self.model = Conversations()
        self.bell_on = bell
        self.config_dir = config_dir
        self._initial_peers = list(peers)
        self._warnings = list(warnings)
        self._follow_init()
        self.set_reactive(CoreFollower.where, f"connecting to {signal}…")
        if theme is not None and theme in self.available_themes:
            self.theme = theme
        elif theme is not None:
            self._warnings.append(f"unknown theme {theme!r} in config.toml: using {self.theme!r}; /theme lists them")
        self._saved_theme = self.theme
        self._keys = KeysInOrder(self, super().on_event)
        self._commands: dict[str, Callable[[str], None]] = {
            "/open": self.command_open,
            "/close": self.command_close,
            "/details": lambda _: self.action_details(),
            "/accept-key": self.command_accept_key,
            "/sidebar": lambda _: self.action_toggle_sidebar(),
            "/theme": self.command_theme,
            "/bell": lambda _: self.action_toggle_bell(),
            "/help": lambda _: self.action_help(),
            "/quit": lambda _: self.exit(),
        }
        """The handler of each row of COMMANDS (tests check that none is missing)."""
        assert set(self._commands) == set(BY_NAME), "every command needs a handler, and only those"

    @property
    def conversations(self) -> dict[str, Conversation]:
        """The conversations in the sidebar, in its order."""
        return self.model.open

    @property
    def closed(self) -> dict[str, Conversation]:
        """Conversations closed with /close: kept, with their lines, until opened again."""
        return self.model.closed

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield PeerList(id="sidebar")
            with Vertical(id="conversation"):
                yield ConversationLog(me=self.me, id="log")
                yield MessageInput(
                    id="input",
                    placeholder="Type a message, or /help",
                    submit=self._input_submitted,
                    completer=self._complete,
                )
        yield Footer()

    def on_resize(self) -> None:
        # On a small terminal the footer's keys sit closer, so that more of them show whole.
        footer = self.query_one(Footer)
        footer.compact = self.size.width < 70
        footer.show_command_palette = self.size.width >= 70

    def on_mount(self) -> None:
        # The core starts once the first frame is up: its thread imports trio and
        # the crypto, which would otherwise hold up that frame for the GIL. What
        # is submitted before then waits in the core's queue.
        self.call_after_refresh(self.client.start, self.post_message_from_core)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        for name in self._initial_peers:
            self.open_conversation(name)
        self.log_widget.show(self.model.get(self.selected))
        self.publish()
        self.message_input.focus()
        for warning in self._warnings:
            self.notify(warning, title="Setting", severity="warning", markup=False, timeout=ERROR_TOAST_SECONDS)

    async def on_event(self, event: textual_events.Event) -> None:
        if isinstance(event, textual_events.Key) and not event.is_forwarded:
            await self._keys.arrived(event)  # Every key in the order it arrived, whatever the speed.
        else:
            await super().on_event(event)

    @property
    def keys_waiting(self) -> int:
        """Keys read from the terminal that have not yet taken effect."""
        return self._keys.waiting

    def on_unmount(self) -> None:
        self.client.stop()

    def post_message_from_core(self, event: CoreOutput) -> None:
        """Called on the core's thread: hand over without blocking either side."""
        message = from_core(event)
        if message is not None:
            self.post_message(message)

    @property
    def message_input(self) -> MessageInput:
        return self.query_one("#input", MessageInput)

    # --- What is shown follows the state ------------------------------------------------------

    def watch_selected(self, name: str | None) -> None:
        self.model.select(name)
        self.log_widget.show(self.model.get(name))
        self.publish()

    def watch_signalling_up(self) -> None:
        self.log_widget.presence_known = self.signalling_up is not False
        self.log_widget.update_title()
        self.publish()

    def watch_where(self) -> None:
        self.publish()

    def watch_problem(self) -> None:
        self.publish()

    def publish(self) -> None:
        """Hand the sidebar and the status line their snapshots of the state; each redraws
        only when its snapshot changed (they are reactive)."""
        if not self.is_mounted:
            return
        sidebar = self.query_one("#sidebar", PeerList)
        sidebar.presence_known = self.signalling_up is not False
        sidebar.now = self.clock()
        sidebar.selected = self.selected
        sidebar.rows = tuple(SidebarRow.of(conversation) for conversation in self.model.open.values())
        status = self.query_one("#status", StatusLine)
        status.set_class(bool(self.problem), "-error")
        parts = [self.me]
        if not sidebar.display:
            # Without the sidebar, this is where what waits elsewhere shows; early, so it is not cut off.
            unread, new = self.model.waiting_elsewhere()
            waiting = ", ".join(f"{n} {what}" for n, what in ((unread, "unread"), (new, "new")) if n)
            if waiting:
                parts.append(f"{waiting} (Alt+A)")
        parts.append(self.where)
        if self.problem:
            parts.append(self.problem)
        status.parts = tuple(parts)

    # --- Conversations ------------------------------------------------------------------------

    def open_conversation(self, name: str, *, select: bool = True) -> None:
        try:
            check_user_name(name)
        except ValueError as exc:
            self.complain(str(exc))
            return
        if name == self.me:
            self.complain("that is you; open a conversation with someone else")
            return
        if self.model.add(name):
            self.client.submit(OpenPeer(name))
        if select:
            self.select(name)
        else:
            self.publish()

    def close_conversation(self, name: str) -> None:
        """Take a conversation out of the sidebar, selecting its neighbour.

        Only the UI forgets it: the core keeps the peer (its outbox still goes
        out, and it may still connect), and the history stays on disk. A message
        from the peer, or /open, brings the conversation back with its lines.
        """
        self.selected = self.model.remove(name)
        self.publish()

    def select(self, name: str | None) -> None:
        self.selected = name

    def _in_dialog(self) -> bool:
        return len(self.screen_stack) > 1

    # --- Actions -------------------------------------------------------------------------

    def action_next_peer(self) -> None:
        if not self._in_dialog():
            self.selected = self.model.step(+1) or self.selected

    def action_previous_peer(self) -> None:
        if not self._in_dialog():
            self.selected = self.model.step(-1) or self.selected

    def action_jump(self, number: int) -> None:
        if not self._in_dialog():
            self.selected = self.model.jump(number) or self.selected

    def action_next_unread(self) -> None:
        """The next conversation after the selected one (round the end) with something unread."""
        if self._in_dialog():
            return
        name = self.model.next_unread()
        if name is None:
            self.notify("Nothing unread", timeout=2)
        else:
            self.selected = name

    def action_quick_switch(self) -> None:
        if self._in_dialog():
            raise SkipAction()  # Ctrl+K in a dialog's input deletes to its end.
        targets = [
            SwitchTarget(c.peer, c.status, c.unread, closed=closed, path=c.path)
            for closed, pool in ((False, self.model.open), (True, self.model.closed))
            for c in pool.values()
        ]

        def chosen(name: str | None) -> None:
            if name:
                self.open_conversation(name)

        self.push_screen(QuickSwitcher(targets, self.me), chosen)

    def action_open_dialog(self) -> None:
        def opened(name: str | None) -> None:
            if name:
                self.open_conversation(name)

        self.push_screen(OpenPeerScreen(), opened)

    def action_details(self) -> None:
        if self.selected is None:
            self.complain("no conversation selected")
        else:
            self.client.submit(ShowDetails(self.selected))

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar", PeerList)
        sidebar.display = not sidebar.display
        self.publish()  # Without the sidebar, the status line counts what is unread.

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_sections()))

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.show_info(f"The bell is {'on' if self.bell_on else 'off'} for messages in other conversations")
        self._save_setting(bell=self.bell_on)

    def action_scroll_log(self, where: str) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # The keys belong to the dialog.
        if where in ("start", "end") and self.message_input.text:
            raise SkipAction()  # Home/End move the cursor in what is being typed.
        log = self.log_widget
        match where:
            case "page_up":
                log.page_up()
            case "page_down":
                log.page_down()
            case "start":
                log.scroll_to_start()
            case "end":
                log.follow()

    def on_conversation_log_reached_top(self, _: ConversationLog.ReachedTop) -> None:
        """Scrolled back to the oldest line shown: the page before it, from the store."""
        conversation = self.model.open.get(self.selected) if self.selected else None
        if conversation is None or conversation.history_complete or conversation.loading_older:
            return
        oldest = conversation.oldest_id()
        if oldest is None:
            return
        conversation.loading_older = True
        self.client.submit(LoadOlder(conversation.peer, oldest))

    def action_review_key(self, peer: str) -> None:
        conversation = self.model.open.get(peer)
        if conversation is None or conversation.status != events.PeerStatus.KEY_CHANGED:
            self.complain(f"{peer}'s key has not changed")
            return
        if isinstance(self.screen, KeyChangedScreen):
            return

        def decided(accept: bool | None) -> None:
            if accept:
                self.client.submit(AcceptKey(peer, conversation.new_fingerprint))
                self.show_info(f"{peer}'s new key is trusted from now on")

        self.push_screen(KeyChangedScreen(conversation), decided)

    # --- The input and its commands -----------------------------------------------------

    def _input_submitted(self, text: str) -> None:
        if not text.strip():
            return
        parsed = parse(text)
        if parsed.command is not None:
            self.run_command(parsed.command, parsed.argument)
        elif parsed.unknown:
            self.complain(f"unknown command {parsed.unknown}: /help lists them; // sends a leading /")
        elif self.selected is None:
            self.complain("no conversation open: /open NAME first")
            self.message_input.replace_text(text)
        else:
            self._send(self.selected, parsed.text.strip("\n"))

    def run_command(self, command: Command, argument: str = "") -> None:
        self._commands[command.name](argument)

    def _complete(self, before: str) -> tuple[int, list[str]]:
        peers = [*self.model.open, *self.model.closed]
        return completions(before, peers, sorted(self.available_themes))

    def command_open(self, argument: str) -> None:
        if argument:
            self.open_conversation(argument)
        else:
            self.action_open_dialog()

    def command_close(self, argument: str) -> None:
        name = argument or self.selected
        if name is None:
            self.complain("no conversation to close")
        elif name not in self.model.open:
            self.complain(f"no open conversation with {name}")
        else:
            self.close_conversation(name)

    def command_accept_key(self, argument: str) -> None:
        if self.selected is None:
            self.complain("no conversation selected")
        else:
            self.action_review_key(self.selected)

    def command_theme(self, argument: str) -> None:
        if not argument:
            self.action_change_theme()  # Textual's theme picker, in its command palette.
        elif argument in self.available_themes:
            self.theme = argument
        else:
            self.complain(f"no theme {argument!r}: Tab completes the names, /theme lists them")

    def _send(self, peer: str, text: str) -> None:
        from p2ptui.net import MAX_MESSAGE_BYTES  # Loaded by the core's thread by now.

        size = len(text.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            self.complain(f"not sent: {size:,} bytes, over the limit of {MAX_MESSAGE_BYTES:,}")
            self.message_input.replace_text(text)
            return
        message_id = secrets.token_hex(8)
        self.add_line(peer, Line(self.clock(), self.me, sanitize(text), own=True, id=message_id))
        self.client.submit(SendText(peer, text, message_id))

    # --- The help screen and the command palette -----------------------------------------

    def help_sections(self) -> list[HelpSection]:
        """Made from the bindings and the command table, so that it says what the app does."""
        palette = Binding(self.COMMAND_PALETTE_BINDING, "command_palette",
                          tooltip="Textual's command palette: every action and conversation by name")
        keys = describe_keys([*self.BINDINGS, palette])
        writing = describe_keys(binding for binding in MessageInput.BINDINGS if binding.action != "help")
        commands = [(f"{c.name} {c.argument}".strip(), c.help) for c in COMMANDS]
        sidebar = [(look.glyph, look.words) for look in STATUS_ICON.values()]
        sidebar += [
            ("▶", "the conversation shown"),
            ("(2)", "messages you have not seen; new: someone started a conversation with you"),
            ("09:30, 23 Nov", "the last message, today or on an earlier day"),
        ]
        log = [
            ("…", "your message, sent, not yet delivered (waiting in the outbox if the peer is offline)"),
            ("✓", "your message, delivered to the peer's app"),
            ("--", "a line from p2ptui: a connection made, changed or lost, a key changed"),
            ("── new ──", "what arrived while you were elsewhere starts below it"),
        ]
        return [
            HelpSection("Writing", writing),
            HelpSection("Keys", keys),
            HelpSection("Commands (Tab completes them)", commands),
            HelpSection("The sidebar", sidebar),
            HelpSection("The log", log),
        ]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        ours = [SystemCommand(c.title, c.help, partial(self.run_command, c)) for c in COMMANDS if c.title]
        yield from ours
        for name, conversation in self.model.open.items():
            yield SystemCommand(f"Switch to {name}", conversation.status.value, partial(self.select, name))
        for name in self.model.closed:
            yield SystemCommand(f"Open {name} again", "a closed conversation", partial(self.open_conversation, name))
        # Textual's own, but for the two ours replace ("Theme" saves, "Quit" is ours too).
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Quit"):
                yield command

    # --- Settings --------------------------------------------------------------------------

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self._saved_theme:
            self._saved_theme = theme.name
            self._save_setting(theme=theme.name)

    def _save_setting(self, **values: object) -> None:
        if self.config_dir is None:
            return
        try:
            save_settings(self.config_dir, **values)
        except ConfigError as exc:
            self.complain(f"not saved: {exc}")
