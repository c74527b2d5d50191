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

import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import events as textual_events
from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer

from p2ptui.net import ConfigError, describe

from . import remembered
from .bindings import KEYS, help_sections
from .commands import COMMANDS, parse
from .core_thread import (
    CoreClient,
    CoreOutput,
    CoreStopped,
    OpenPeer,
)
from .follow import ERROR_TOAST_SECONDS, CoreFollower
from .groups import describe_group, is_group
from .keys import KeysInOrder, use_escape_as_alt
from .messages import from_core
from .model import Conversation, Conversations, Line
from .sanitize import sanitize
from .settings import check_user_name, save_settings
from .slash_groups import GroupCommands
from .widgets import ConversationLog, InputHint, MessageInput, PeerList, StatusLine
from .widgets.sidebar import SidebarRow
from .words import HelpSection

use_escape_as_alt()

__all__ = ["P2PApp"]


class P2PApp(GroupCommands):
    TITLE = "p2ptui"
    CSS = """
    /* Toasts at the top right, over the oldest rows in view: never over what is being typed. */
    ToastRack { dock: top; align: right top; margin-top: 1; margin-bottom: 0; max-height: 70%; overflow-y: hidden; }
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
    BINDINGS = KEYS

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
        on_first_frame: Callable[[], None] | None = None,
    ):
        """`theme` and `bell` are the settings from config.toml; with `config_dir`,
        changing them in the app saves them there. `warnings` are fallbacks the
        settings took (an unknown key, an empty --name): each is said once.
        `on_first_frame` is called once the first frame is drawn."""
        super().__init__()
        self.client = client
        self.me = me
        self.signal = signal
        self.clock = clock
        self.model = Conversations()
        self.bell_on = bell
        self.config_dir = config_dir
        self._initial_peers = list(peers)
        self._remembered: tuple[str, ...] = ()
        """The conversations as last written to the config directory."""
        self._warnings = list(warnings)
        self._on_first_frame = on_first_frame
        self._follow_init()
        self._groups_init()
        self.set_reactive(CoreFollower.where, f"connecting to {signal}…")
        if theme is not None and theme in self.available_themes:
            self.theme = theme
        elif theme is not None:
            self._warnings.append(f"unknown theme {theme!r} in config.toml: using {self.theme!r}; /theme lists them")
        self._saved_theme = self.theme
        self._keys = KeysInOrder(self, super().on_event)
        self._commands = self.command_handlers()

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
                    show_choices=self.show_choices,
                )
                yield InputHint(id="input-hint")
        yield Footer()

    def on_resize(self, event: textual_events.Resize) -> None:
        # On a small terminal the footer's keys sit closer, so that more of them show whole.
        # The event's size: the app's own may still be the one before.
        footer = self.query_one(Footer)
        footer.compact = event.size.width < 70
        footer.show_command_palette = event.size.width >= 70

    def on_mount(self) -> None:
        # The core starts once the first frame is up: its thread imports trio and
        # the crypto, which would otherwise hold up that frame for the GIL. After
        # the refresh that draws it, and once what was queued for then has run:
        # a callback queued from there runs at the next idle. What is submitted
        # before then waits in the core's queue.
        self.call_after_refresh(self.call_after_refresh, self._first_frame_drawn)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        # Yesterday's conversations in yesterday's order (Alt+1 is still Alt+1), then --peer's.
        self._remembered = tuple(remembered.load(self.config_dir))
        for name in dict.fromkeys([*self._remembered, *self._initial_peers]):
            self.open_conversation(name)
        self.log_widget.show(self.model.get(self.selected))
        self.publish()
        self.message_input.focus()
        for warning in self._warnings:
            self.notify(warning, title="Setting", severity="warning", markup=False, timeout=ERROR_TOAST_SECONDS)

    def _first_frame_drawn(self) -> None:
        self.client.start(self.post_message_from_core)
        if self._on_first_frame is not None:
            self._on_first_frame()

    async def on_event(self, event: textual_events.Event) -> None:
        if isinstance(event, (textual_events.Key, textual_events.Paste)) and not event.is_forwarded:
            await self._keys.arrived(event)  # Every key (and paste) in the order it arrived, whatever the speed.
        else:
            await super().on_event(event)

    @property
    def keys_waiting(self) -> int:
        """Keys read from the terminal that have not yet taken effect."""
        return self._keys.waiting

    def _handle_exception(self, error: Exception) -> None:
        """A bug of ours escaped a handler. Textual would print its traceback, local
        variables (messages among them) included, when the screen goes: it goes to the
        log file instead, and the screen and the shell get one line."""
        logging.getLogger("p2ptui").error("internal error in the TUI", exc_info=error)
        self.fatal = CoreStopped(describe(error), 1)
        super()._handle_exception(error)  # Exits, and keeps the error for a test's pilot.
        self._exit_renderables.clear()

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
        sidebar.rows = tuple(SidebarRow.of(self.model.open[name]) for name in self.model.in_order())
        worth_remembering = tuple(self.model.worth_remembering())
        if worth_remembering != self._remembered:
            self._remembered = worth_remembering
            remembered.save(self.config_dir, self._remembered)
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
        if is_group(name):
            self.open_group(name, select=select)
            return
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

    # --- The input and its commands -----------------------------------------------------

    def _input_submitted(self, text: str) -> None:
        self.input_hint.hush()
        if not text.strip():
            self.enter_on_empty()  # Accepts a file offered, if one waits.
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

    def _send(self, peer: str, text: str) -> None:
        from p2ptui.net import MAX_MESSAGE_BYTES  # Loaded by the core's thread by now.

        refusal = self.refusal(peer)  # A group we are not (or no longer) in.
        if refusal:
            self.complain(refusal)
            self.message_input.replace_text(text)
            return
        size = len(text.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            self.complain(f"not sent: {size:,} bytes, over the limit of {MAX_MESSAGE_BYTES:,}")
            self.message_input.replace_text(text)
            return
        message_id = os.urandom(8).hex()  # (not `secrets`: its import costs the first frame a millisecond)
        self.add_line(peer, Line(self.clock(), self.own_sender(peer), sanitize(text), own=True, id=message_id))
        self.client.submit(self.text_command(peer, text, message_id))

    # --- The help screen and the command palette -----------------------------------------

    def help_sections(self) -> list[HelpSection]:
        """Made from the bindings and the command table, so that it says what the app does."""
        return help_sections(self.BINDINGS, self.COMMAND_PALETTE_BINDING)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        ours = [SystemCommand(c.title, c.help, partial(self.run_command, c)) for c in COMMANDS if c.title]
        yield from ours
        for name, conversation in self.model.open.items():
            state = conversation.status.value if conversation.group is None else describe_group(conversation.group)
            yield SystemCommand(f"Switch to {name}", state, partial(self.select, name))
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
