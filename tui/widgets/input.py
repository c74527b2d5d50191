"""The message input: several lines, Enter sends, history and Tab completion.

A TextArea, not an Input: a message may hold newlines (Ctrl+J types one,
and a paste keeps its own), and the input grows a row at a time up to a few
rows as the text wraps, then scrolls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.actions import SkipAction
from textual.binding import Binding
from textual.widgets import TextArea

from ..commands import InputHistory


@dataclass(frozen=True)
class Replacement:
    """What Tab puts in place of the first row's text from `start` to the cursor, as it is:
    no space after it, no cycling (a path, as a shell completes it)."""

    start: int
    text: str
    choices: tuple[str, ...] = ()
    """What matched, when several did: shown for a moment."""


#: Given the text before the cursor: where the word to complete starts and its candidates
#: (Tab cycles through them), or a Replacement.
Completer = Callable[[str], "tuple[int, list[str]] | Replacement"]


@dataclass
class _Completion:
    """Tab pressed again, with nothing typed since, moves to the next candidate."""

    start: int
    end: int
    """The word being completed is columns start to end of the first row."""
    candidates: list[str]
    index: int
    result: str = ""
    """The input's text after the last completion."""


RECALL = Binding.Group("recall what you sent (Up on the first row of the input, Down on the last)")
COMPLETE = Binding.Group("complete a /command, or the name or path it takes; again for the next")


#: How long a `?` in an empty input waits for more keys before it opens the help (seconds):
#: the keys of a burst follow each other within milliseconds, a person's next key does not.
HELP_DELAY = 0.15


class MessageInput(TextArea):
    """Enter sends; Ctrl+J (and Alt+Enter or Shift+Enter where the terminal tells
    them apart from Enter) starts a new line; Up on the first row and Down on the
    last recall what was sent; Tab completes commands and names."""

    DEFAULT_CSS = """
    MessageInput { height: auto; max-height: 7; border: tall $border-blurred; padding: 0 1; }
    MessageInput:focus { border: tall $border; }
    """
    # Priority, so that they come before TextArea's own handling of these keys
    # (Enter would insert a newline, Tab move the focus, Up only move the cursor).
    BINDINGS = [
        Binding("enter", "submit", "Send", show=False, priority=True, tooltip="send the message, or run the /command"),
        Binding(
            "ctrl+j,alt+enter,shift+enter",
            "newline",
            "New line",
            show=False,
            priority=True,
            tooltip=(
                "a new line in the message (Alt+Enter and Shift+Enter too, where the terminal tells them from Enter)"
            ),
        ),
        Binding("up", "recall(-1)", "Previous sent", show=False, priority=True, group=RECALL),
        Binding("down", "recall(1)", "Next sent", show=False, priority=True, group=RECALL),
        Binding("tab", "complete(1)", "Complete", show=False, priority=True, group=COMPLETE),
        Binding("shift+tab", "complete(-1)", "Complete back", show=False, priority=True, group=COMPLETE),
        Binding("question_mark", "help", "Help", show=False, priority=True,
                tooltip="this help, when the input is empty"),
    ]

    def __init__(
        self,
        *,
        submit: Callable[[str], None] | None = None,
        completer: Completer | None = None,
        show_choices: Callable[[tuple[str, ...]], None] | None = None,
        **kwargs,
    ) -> None:
        """`submit` gets the text, as typed, when Enter is pressed (the input is empty
        again by then). It is called at once, not posted as a message: a key read
        after this Enter (Alt+2, say) must not run before the text is handled, or
        the line would go to the conversation switched to."""
        super().__init__(soft_wrap=True, highlight_cursor_line=False, tab_behavior="focus", **kwargs)
        self.sent = InputHistory()
        """What was sent, for Up and Down (TextArea's own `history` is its undo)."""
        self._submit = submit
        self._completer = completer
        self._show_choices = show_choices
        self._completion: _Completion | None = None

    def replace_text(self, text: str) -> None:
        """Put text in the input, the cursor at its end."""
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_submit(self) -> None:
        text = self.text
        if text.strip():
            self.sent.add(text.strip("\n"))
        self.clear()
        if self._submit is not None:
            self._submit(text)

    def action_newline(self) -> None:
        self.insert("\n")

    def action_recall(self, step: int) -> None:
        # These bindings replace TextArea's own for Up and Down, so within the text
        # they move the cursor as those did.
        navigator = self.navigator
        if step < 0 and not navigator.is_first_wrapped_line(self.cursor_location):
            self.action_cursor_up()
            return
        if step > 0 and not navigator.is_last_wrapped_line(self.cursor_location):
            self.action_cursor_down()
            return
        text = self.sent.previous(self.text) if step < 0 else self.sent.next()
        if text is not None:
            self.replace_text(text)

    def action_complete(self, step: int) -> None:
        completion = self._completion
        if completion is None or completion.result != self.text:
            row, column = self.cursor_location
            if self._completer is None or row != 0:
                return
            found = self._completer(self.document.get_line(0)[:column])
            if isinstance(found, Replacement):
                self._replace_word(found, column)
                return
            start, candidates = found
            if not candidates:
                return
            completion = _Completion(start, column, candidates, -1 if step > 0 else 0)
        completion.index = (completion.index + step) % len(completion.candidates)
        insert = completion.candidates[completion.index] + " "
        self.replace(insert, (0, completion.start), (0, completion.end))
        completion.end = completion.start + len(insert)
        self.move_cursor((0, completion.end))
        completion.result = self.text
        # With one candidate there is nothing to cycle through: the next Tab completes afresh
        # (after "/open ", the names).
        self._completion = completion if len(completion.candidates) > 1 else None

    def _replace_word(self, found: Replacement, column: int) -> None:
        self.replace(found.text, (0, found.start), (0, column))
        self.move_cursor((0, found.start + len(found.text)))
        self._completion = None
        if found.choices and self._show_choices is not None:
            self._show_choices(found.choices)

    async def action_help(self) -> None:
        if self.text:
            raise SkipAction()  # A question mark in the message.
        # Alone, `?` is help; as the first key of a burst (a paste, a line over a laggy
        # link), it is the start of a message. So it goes in as text, and becomes help
        # only if nothing follows it at once: no burst ever loses a character to it.
        self.insert("?")
        self.set_timer(HELP_DELAY, self._help_if_alone)

    async def _help_if_alone(self) -> None:
        if self.text == "?":
            self.clear()
            await self.app.run_action("help")
