"""The Textual app: a peer sidebar, the conversation log, an input.

It is a client of the networking core through a `CoreClient` (in production
a `CoreThread`): commands go in with `submit`, events come back as
`CoreEvent` messages. Tests hand it a fake client.

Every key is a Binding and every slash command a row of `commands.COMMANDS`;
the help screen and the command palette are made from those, so they list
what the app really does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import events as textual_events
from textual import on
from textual.actions import SkipAction
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Footer

from p2ptui.net import ConfigError, events, format_address

from .commands import COMMANDS, Command, completions, parse
from .core_thread import (
    AcceptKey,
    CoreClient,
    CoreOutput,
    CoreStopped,
    LoadOlder,
    OpenPeer,
    SendText,
    ShowDetails,
)
from .errors import signalling_advice
from .keys import KeysInOrder, describe_keys, use_escape_as_alt
from .model import Conversation, Line
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
from .words import STATUS_ICON, applicable_reason, describe

use_escape_as_alt()

__all__ = ["CoreEvent", "DetailsScreen", "KeyChangedScreen", "OpenPeerScreen", "P2PApp"]

#: A peer's toasts and bells come at most this often (seconds): a flood rings once.
NOTICE_INTERVAL = 3.0
TOAST_LENGTH = 100
#: An error's toast stays this long; the log keeps it after that.
ERROR_TOAST_SECONDS = 20


def short_form(text: str) -> str:
    """An error for the header: its first clause, the rest being in the toast and the log."""
    for mark in ("; ", ": "):
        head, found, _ = text.partition(mark)
        if found and len(head) >= 12:
            return f"⚠ {head} (more in the log)"
    return f"⚠ {text}"


class CoreEvent(Message):
    """An event from the networking core, posted from the core's thread."""

    def __init__(self, event: CoreOutput) -> None:
        super().__init__()
        self.event = event


JUMP = Binding.Group("the Nth conversation in the sidebar (its number there)")
SCROLL = Binding.Group("scroll the conversation back and forward; the input keeps what you are typing")
ENDS = Binding.Group("the oldest and the newest message, when the input is empty")


class P2PApp(App[None]):
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
        self.conversations: dict[str, Conversation] = {}
        """The conversations in the sidebar, in its order."""
        self.closed: dict[str, Conversation] = {}
        """Conversations closed with /close: kept, with their lines, until opened again."""
        self.selected: str | None = None
        self.bell_on = bell
        self.config_dir = config_dir
        self._initial_peers = list(peers)
        self._warnings = list(warnings)
        self._status = f"connecting to {signal}…"
        self._error = ""
        self._last_notice: dict[str, float] = {}
        self.signalling_up: bool | None = None
        """Whether the signalling server answers (None: not known yet). While it does
        not, nobody's presence is known: a peer not connected shows as unknown."""
        self._signalling_problem = ""
        self._heard_from: set[str] = set()
        """Peers the core has told of: whether a peer started its conversation is decided once."""
        self._asked_for: set[str] = set()
        """Peers the user opened a conversation with: never `new`, whoever spoke first."""
        self.fatal: CoreStopped | None = None
        """Why the core stopped by itself, if it did: the command line repeats it on exit."""
        if theme is not None and theme in self.available_themes:
            self.theme = theme
        elif theme is not None:
            self._warnings.append(f"unknown theme {theme!r} in config.toml: using {self.theme!r}; /theme lists them")
        self._saved_theme = self.theme
        self._keys = KeysInOrder(self, super().on_event)

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
        self._refresh_all()
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
        self.post_message(CoreEvent(event))

    @property
    def message_input(self) -> MessageInput:
        return self.query_one("#input", MessageInput)

    # --- Conversations -----------------------------------------------------------------

    def open_conversation(self, name: str, *, select: bool = True) -> None:
        try:
            check_user_name(name)
        except ValueError as exc:
            self.complain(str(exc))
            return
        if name == self.me:
            self.complain("that is you; open a conversation with someone else")
            return
        self._asked_for.add(name)
        if name in self.closed:
            self.conversations[name] = self.closed.pop(name)
        elif name not in self.conversations:
            self.conversations[name] = Conversation(name)
            self.client.submit(OpenPeer(name))
        if select:
            self.select(name)
        else:
            self._refresh_sidebar()

    def close_conversation(self, name: str) -> None:
        """Take a conversation out of the sidebar, selecting its neighbour.

        Only the UI forgets it: the core keeps the peer (its outbox still goes
        out, and it may still connect), and the history stays on disk. A message
        from the peer, or /open, brings the conversation back with its lines.
        """
        names = list(self.conversations)
        index = names.index(name)
        if name == self.selected:
            rest = names[:index] + names[index + 1 :]
            self.select(rest[index] if index < len(rest) else (rest[-1] if rest else None))
        self.closed[name] = self.conversations.pop(name)
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

    def _conversation(self, peer: str) -> Conversation:
        """The conversation with peer, open or closed, made if there is none."""
        if peer in self.closed:
            return self.closed[peer]
        return self.conversations.setdefault(peer, Conversation(peer))

    def _move(self, step: int) -> None:
        names = list(self.conversations)
        if not names or self._in_dialog():
            return
        index = names.index(self.selected) if self.selected in names else -step
        self.select(names[(index + step) % len(names)])

    # --- Actions -------------------------------------------------------------------------

    def _in_dialog(self) -> bool:
        return len(self.screen_stack) > 1

    def action_next_peer(self) -> None:
        self._move(+1)

    def action_previous_peer(self) -> None:
        self._move(-1)

    def action_jump(self, number: int) -> None:
        if self._in_dialog():
            return
        names = list(self.conversations)
        if 1 <= number <= len(names):
            self.select(names[number - 1])

    def action_next_unread(self) -> None:
        """The next conversation after the selected one (round the end) with something unread."""
        if self._in_dialog():
            return
        names = list(self.conversations)
        start = names.index(self.selected) + 1 if self.selected in names else 0
        for name in names[start:] + names[:start]:
            conversation = self.conversations[name]
            if conversation.unread or conversation.new:
                self.select(name)
                return
        self.notify("Nothing unread", timeout=2)

    def action_quick_switch(self) -> None:
        if self._in_dialog():
            raise SkipAction()  # Ctrl+K in a dialog's input deletes to its end.
        targets = [
            SwitchTarget(c.peer, c.status, c.unread, closed=closed, path=c.path)
            for closed, pool in ((False, self.conversations), (True, self.closed))
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
        self._refresh_status()  # Without the sidebar, the status line counts what is unread.

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

    def on_conversation_log_reached_top(self, _: ConversationLog.ReachedTop) -> None:
        """Scrolled back to the oldest line shown: the page before it, from the store."""
        conversation = self.conversations.get(self.selected) if self.selected else None
        if conversation is None or conversation.history_complete or conversation.loading_older:
            return
        oldest = conversation.oldest_id()
        if oldest is None:
            return
        conversation.loading_older = True
        self.client.submit(LoadOlder(conversation.peer, oldest))

    def action_review_key(self, peer: str) -> None:
        conversation = self.conversations.get(peer)
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
        getattr(self, command.method)(argument)

    def _complete(self, before: str) -> tuple[int, list[str]]:
        peers = [*self.conversations, *self.closed]
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
        elif name not in self.conversations:
            self.complain(f"no open conversation with {name}")
        else:
            self.close_conversation(name)

    def command_details(self, argument: str) -> None:
        self.action_details()

    def command_accept_key(self, argument: str) -> None:
        if self.selected is None:
            self.complain("no conversation selected")
        else:
            self.action_review_key(self.selected)

    def command_sidebar(self, argument: str) -> None:
        self.action_toggle_sidebar()

    def command_theme(self, argument: str) -> None:
        if not argument:
            self.action_change_theme()  # Textual's theme picker, in its command palette.
        elif argument in self.available_themes:
            self.theme = argument
        else:
            self.complain(f"no theme {argument!r}: Tab completes the names, /theme lists them")

    def command_bell(self, argument: str) -> None:
        self.action_toggle_bell()

    def command_help(self, argument: str) -> None:
        self.action_help()

    def command_quit(self, argument: str) -> None:
        self.exit()

    def _send(self, peer: str, text: str) -> None:
        from p2ptui.net import MAX_MESSAGE_BYTES  # Loaded by the core's thread by now.

        size = len(text.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            self.complain(f"not sent: {size:,} bytes, over the limit of {MAX_MESSAGE_BYTES:,}")
            self.message_input.replace_text(text)
            return
        message_id = secrets.token_hex(8)
        self._add_message(peer, Line(self.clock(), self.me, sanitize(text), own=True, id=message_id))
        self.client.submit(SendText(peer, text, message_id))

    def _add_message(self, peer: str, line: Line) -> None:
        if peer in self.closed and not line.own:
            self.open_conversation(peer, select=False)  # A message brings it back.
        conversation = self._conversation(peer)
        conversation.add(line, shown=peer == self.selected)
        if peer == self.selected:
            self.query_one("#log", ConversationLog).add(line)
        if peer in self.conversations:
            self._refresh_sidebar()  # The unread count and the time.

    def _add_system_line(self, conversation: Conversation, text: str) -> None:
        line = conversation.add_system(self.clock(), text)
        if conversation.peer == self.selected:
            self.query_one("#log", ConversationLog).add(line)

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
        for name, conversation in self.conversations.items():
            yield SystemCommand(f"Switch to {name}", conversation.status.value, partial(self.select, name))
        for name in self.closed:
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

    # --- Events from the core ---------------------------------------------------------------

    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        match message.event:
            case events.Ready(signal=signal, address=address, nat=nat_type):
                self._status = f"{signal} · {format_address(address)} · NAT: {nat_type}"
                self._error = ""
            case events.SignalStatus(connected=True):
                if self.signalling_up is False:
                    self.show_info("The signalling server answers again")
                self.signalling_up = True
                self._signalling_problem = ""
                self._error = ""
                self._refresh_sidebar()
            case events.SignalStatus(connected=False, message=text, fatal=fatal):
                self.signalling_up = False
                advice = signalling_advice(text) + ("" if fatal else " (trying again)")
                if advice != self._signalling_problem:  # Said once, not at every retry.
                    self._signalling_problem = advice
                    self.show_error(advice)
                self._refresh_sidebar()
                if self.selected:
                    self.query_one("#log", ConversationLog).update_title()
            case CoreStopped(message=text):
                self.fatal = message.event
                self.show_error(f"p2ptui cannot go on: {text}. Ctrl+Q quits")
            case events.PeerChanged() as changed:
                self._peer_changed(changed)
                return
            case events.MessageReceived(peer=peer, id=message_id, text=text):
                self._message_received(peer, message_id, text)
                return
            case events.MessageDelivered(peer=peer, id=message_id):
                conversation = self.conversations.get(peer) or self.closed.get(peer)
                if conversation and conversation.mark_delivered(message_id) and peer == self.selected:
                    self.query_one("#log", ConversationLog).refresh()
                return
            case events.History(peer=peer, messages=messages, older=older, complete=complete):
                self._history(peer, messages, older=older, complete=complete)
                return
            case events.Details() as details:
                self.push_screen(DetailsScreen(details))
                return
            case events.Error(message=text, peer=peer):
                self.show_error(text, peer=peer)
        self._refresh_status()

    def _history(self, peer: str, messages: tuple, *, older: bool = False, complete: bool = False) -> None:
        conversation = self._conversation(peer)
        conversation.history_complete = conversation.history_complete or complete
        if older:
            conversation.loading_older = False
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
        added = conversation.add_history(lines)
        if peer == self.selected and older:
            self.query_one("#log", ConversationLog).prepended(added)
        elif peer == self.selected:
            self._refresh_log()
        elif peer in self.conversations:
            self._refresh_sidebar()  # The time of the last message.

    def _peer_changed(self, changed: events.PeerChanged) -> None:
        closed = changed.peer in self.closed
        conversation = self.conversations.get(changed.peer) or self.closed.get(changed.peer)
        if conversation is None:
            conversation = self.conversations[changed.peer] = Conversation(changed.peer)
        if changed.peer not in self._heard_from:
            # The first word of this peer. Its history may have made the conversation
            # already (the core sends that first), so `new` is decided here, once.
            self._heard_from.add(changed.peer)
            started_by_peer = changed.incoming and changed.peer not in self._asked_for
            conversation.new = started_by_peer and changed.peer != self.selected
        before = (conversation.status, conversation.path, conversation.remote)
        conversation.status = changed.status
        conversation.path = changed.path
        conversation.network = changed.network
        conversation.remote = format_address(changed.remote) if changed.remote else ""
        conversation.reason = changed.reason
        conversation.fingerprint = changed.fingerprint or conversation.fingerprint
        conversation.new_fingerprint = changed.new_fingerprint
        self._log_connection_change(conversation, before)
        if closed:
            return  # Noted for when it is opened again; a closed conversation does not interrupt.
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
            reason = applicable_reason(now, conversation.reason)
            self._add_system_line(conversation, f"{now.value}: {reason}" if reason else f"connection lost, now {now.value}")

    def _message_received(self, peer: str, message_id: str, text: str) -> None:
        safe = sanitize(text)
        self._add_message(peer, Line(self.clock(), peer, safe, id=message_id))
        if peer != self.selected:
            self._notice(peer, safe)

    def _notice(self, peer: str, text: str) -> None:
        """A toast, and the bell if it is on, for a message in a conversation not shown.

        The text is the peer's: it goes in as a plain string with markup off, so
        `[@click=…]` or `[b]` in it are just characters. At most one notice per
        peer every NOTICE_INTERVAL seconds; the sidebar counts the rest.
        """
        now = time.monotonic()
        if now - self._last_notice.get(peer, -NOTICE_INTERVAL) < NOTICE_INTERVAL:
            return
        self._last_notice[peer] = now
        preview = " ".join(text.split())
        if len(preview) > TOAST_LENGTH:
            preview = preview[: TOAST_LENGTH - 1] + "…"
        self.notify(preview, title=peer, markup=False, timeout=6)
        if self.bell_on:
            self.bell()

    # --- Showing ---------------------------------------------------------------------------

    def show_error(self, text: str, *, peer: str | None = None) -> None:
        """A problem from the core or the network: whole in a toast, kept in the log
        (the peer's conversation, or the one shown), short in the header."""
        self.notify(text, title="Problem", severity="error", markup=False, timeout=ERROR_TOAST_SECONDS)
        conversation = self.conversations.get(peer or self.selected or "")
        if conversation is not None:
            self._add_system_line(conversation, text)
        self._error = short_form(text)
        self._refresh_status()

    def complain(self, text: str) -> None:
        """What was just asked cannot be done: the answer, at once, in a toast and the header."""
        self.notify(text, severity="warning", markup=False, timeout=8)
        self._error = f"⚠ {text}"
        self._refresh_status()

    def show_info(self, text: str) -> None:
        self.notify(text, markup=False, timeout=8)

    def _refresh_all(self) -> None:
        self._refresh_status()
        self._refresh_sidebar()
        self._refresh_log()

    def _refresh_status(self) -> None:
        status = self.query_one("#status", StatusLine)
        status.set_class(bool(self._error), "-error")
        parts = [self.me]
        if not self.query_one("#sidebar", PeerList).display:
            # Without the sidebar, this is where what waits elsewhere shows; early, so it is not cut off.
            others = [c for c in self.conversations.values() if c.peer != self.selected]
            unread, new = sum(c.unread for c in others), sum(1 for c in others if c.new and not c.unread)
            waiting = ", ".join(f"{n} {what}" for n, what in ((unread, "unread"), (new, "new")) if n)
            if waiting:
                parts.append(f"{waiting} (Alt+A)")
        parts.append(self._status)
        if self._error:
            parts.append(self._error)
        status.parts = tuple(parts)

    def _refresh_sidebar(self) -> None:
        self.query_one("#sidebar", PeerList).show(
            list(self.conversations.values()), self.selected, self.clock(), presence_known=self.signalling_up is not False
        )
        self.query_one("#log", ConversationLog).presence_known = self.signalling_up is not False
        if not self.query_one("#sidebar", PeerList).display:
            self._refresh_status()

    def _refresh_log(self) -> None:
        conversation = self.conversations.get(self.selected) if self.selected else None
        self.query_one("#log", ConversationLog).show(conversation)
