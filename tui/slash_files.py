"""The file commands: `/send PATH`, `/accept`, `/decline`, `/cancel`, and Enter on an offer.

`FileCommands` sits between `Actions` and `SlashCommands`, as slash.py's
commands do. What can be checked here is said at once, under the input (a
missing file, a directory), with no round trip to the core; the core's own
refusals come back as errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .actions import Actions
from .core_thread import AcceptFile, CancelFile, DeclineFile, SendFile
from .path_complete import check_sendable, complete_path, fit_choices
from .transfers import UNDER_WAY, TransferView, safe_name
from .widgets import InputHint, Replacement

#: How long Tab's choices stay under the input (seconds).
CHOICES_SECONDS = 5.0
#: An error about what was typed stays until this long, or the next one.
ERROR_SECONDS = 10.0
_SEND = "/send "


class FileCommands(Actions):
    """What the file commands do."""

    def file_command_handlers(self) -> dict[str, Callable[[str], None]]:
        return {
            "/send": self.command_send,
            "/accept": self.command_accept,
            "/decline": self.command_decline,
            "/cancel": self.command_cancel,
        }

    @property
    def input_hint(self) -> InputHint:
        return self.query_one("#input-hint", InputHint)

    def hint_error(self, text: str, *, typed: str = "") -> None:
        """Under the input, at once; what was typed goes back in the input to be put right."""
        self.input_hint.say(text, error=True, seconds=ERROR_SECONDS)
        if typed and not self.message_input.text:
            self.message_input.replace_text(typed)

    def show_choices(self, choices: tuple[str, ...]) -> None:
        width = self.message_input.content_size.width  # The hint's own, hidden, is 0: the same column.
        self.input_hint.say(fit_choices(tuple(safe_name(c, 40) for c in choices), width), seconds=CHOICES_SECONDS)

    def complete_file_path(self, before: str) -> Replacement | None:
        """Tab after `/send `: the path typed so far, completed from the disk."""
        if not before.startswith(_SEND) or "\n" in before:
            return None
        start = len(before) - len(before[len(_SEND):].lstrip(" "))
        found = complete_path(before[start:])
        if found is None:
            return Replacement(start, before[start:])  # Nothing matches: left as it is.
        return Replacement(start, found.text, found.choices)

    def transfer_names(self) -> list[str]:
        """The selected conversation's transfers under way, newest first, for Tab."""
        if self.selected is None:
            return []
        views = [view for view in self.transfers.of(self.selected) if view.state in UNDER_WAY]
        return list(dict.fromkeys(view.name for view in reversed(views)))

    # --- The commands ---------------------------------------------------------------------------

    def command_send(self, argument: str) -> None:
        typed = f"{_SEND}{argument}"
        if self.selected is None:
            self.hint_error("no conversation selected: /open NAME first", typed=typed)
            return
        if not argument:
            self.message_input.replace_text(_SEND)  # From the palette: the path is typed here.
            self.input_hint.say("/send PATH: Tab completes the path", seconds=CHOICES_SECONDS)
            return
        path, why = check_sendable(argument)
        if why:
            self.hint_error(why, typed=typed)
            return
        self.client.submit(SendFile(self.selected, path))
        # Its line comes once the core has hashed it, which takes a while for a big file.
        self.input_hint.say(f"offering {safe_name(os.path.basename(path), 40)} to {self.selected}…",
                            seconds=CHOICES_SECONDS)

    def command_accept(self, argument: str) -> None:
        # An offer, else a transfer that failed (the core takes up a resumable one from its .part).
        view = self._transfer("/accept", argument, frozenset({"offered"}), frozenset({"failed"}), outgoing=False)
        if view is not None:
            self._accept(view)

    def command_decline(self, argument: str) -> None:
        view = self._transfer("/decline", argument, frozenset({"offered"}), outgoing=False)
        if view is not None:
            self.client.submit(DeclineFile(view.peer, view.id))
            self._answered(view, "declined")

    def command_cancel(self, argument: str) -> None:
        view = self._transfer("/cancel", argument, UNDER_WAY, frozenset({"failed"}))
        if view is not None:
            self.client.submit(CancelFile(view.peer, view.id))
            self._answered(view, "cancelled")

    def enter_on_empty(self) -> None:
        """Enter with nothing typed: accepts the conversation's newest offer, if it waits (only then)."""
        view = self.transfers.offer_waiting(self.selected) if self.selected else None
        if view is not None:
            self._accept(view)

    # --- Helpers ----------------------------------------------------------------------------------

    def _transfer(
        self,
        command: str,
        argument: str,
        usable: frozenset[str],
        then: frozenset[str] = frozenset(),
        *,
        outgoing: bool | None = None,
    ) -> TransferView | None:
        """The transfer a command means: among those in `usable` states, else in `then`'s."""
        if self.selected is None:
            self.hint_error("no conversation selected")
            return None
        found = self.transfers.find(self.selected, argument, usable, outgoing)
        if isinstance(found, str) and then:
            found = self.transfers.find(self.selected, argument, then, outgoing)
        if isinstance(found, str):
            self.hint_error(found, typed=f"{command} {argument}".strip())
            return None
        self.input_hint.hush()
        return found

    def _accept(self, view: TransferView) -> None:
        self.client.submit(AcceptFile(view.peer, view.id))
        self.transfers.answered(view, "receiving")  # At 0% until the core says how far it is.
        self._transfer_changed(view)

    def _answered(self, view: TransferView, state: str) -> None:
        self.transfers.answered(view, state)
        self._transfer_changed(view)
