"""The slash commands: the handler of each row of `commands.COMMANDS`.

`SlashCommands` sits between `FileCommands` (the file commands, slash_files.py)
and `P2PApp` (composition, state, sending), so the app's file keeps to its own jobs.
"""

from __future__ import annotations

from collections.abc import Callable

from p2ptui.net import ConfigError

from .commands import BY_NAME, Command, completions
from .core_thread import ShowSafetyNumber
from .settings import check_user_name
from .slash_files import FileCommands
from .widgets import Replacement


class SlashCommands(FileCommands):
    """What `/open`, `/close`, `/verify`, `/theme` and the rest do."""

    _commands: dict[str, Callable[[str], None]]
    """Set by the app from `command_handlers()`."""

    # The app's own.
    def open_conversation(self, name: str, *, select: bool = True) -> None: ...

    def close_conversation(self, name: str) -> None: ...

    def command_handlers(self) -> dict[str, Callable[[str], None]]:
        """The handler of each row of COMMANDS (tests check that none is missing)."""
        handlers: dict[str, Callable[[str], None]] = {
            "/open": self.command_open,
            "/close": self.command_close,
            "/details": lambda _: self.action_details(),
            "/accept-key": self.command_accept_key,
            "/verify": self.command_verify,
            "/sidebar": lambda _: self.action_toggle_sidebar(),
            "/theme": self.command_theme,
            "/bell": lambda _: self.action_toggle_bell(),
            "/help": lambda _: self.action_help(),
            "/quit": lambda _: self.exit(),
            **self.file_command_handlers(),
        }
        handlers.update(self.more_command_handlers())
        assert set(handlers) == set(BY_NAME), "every command needs a handler, and only those"
        return handlers

    def more_command_handlers(self) -> dict[str, Callable[[str], None]]:
        """The handlers a subclass adds (the groups' commands): each calls super() and adds its own."""
        return {}

    def run_command(self, command: Command, argument: str = "") -> None:
        self._commands[command.name](argument)

    def _complete(self, before: str) -> tuple[int, list[str]] | Replacement:
        path = self.complete_file_path(before)
        if path is not None:
            return path
        peers = [*self.model.open, *self.model.closed]
        return completions(before, peers, sorted(self.available_themes), self.transfer_names())

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

    def command_verify(self, argument: str) -> None:
        name = argument or self.selected
        if name is None:
            self.complain("no conversation selected: /verify NAME")
            return
        try:
            check_user_name(name)
        except ConfigError as exc:
            self.complain(str(exc))
            return
        self.client.submit(ShowSafetyNumber(name))  # The number comes back as an event.

    def command_theme(self, argument: str) -> None:
        if not argument:
            self.action_change_theme()  # Textual's theme picker, in its command palette.
        elif argument in self.available_themes:
            self.theme = argument
        else:
            self.complain(f"no theme {argument!r}: Tab completes the names, /theme lists them")
