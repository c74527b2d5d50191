"""The row under the input: what is wrong with what was just typed, or Tab's choices."""

from __future__ import annotations

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from ..sanitize import sanitize


class InputHint(Static):
    """Hidden until there is something to say about the input; says it for a while.

    Its text may name files on disk: sanitised, never parsed as markup.
    """

    DEFAULT_CSS = """
    InputHint { height: auto; max-height: 3; padding: 0 2; color: $text-muted; display: none; }
    InputHint.-error { color: $text-error; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._timer: Timer | None = None
        self.said = ""
        """What it says now ("" when hidden): for tests, and anyone reading the screen out."""

    def say(self, text: str, *, error: bool = False, seconds: float = 6.0) -> None:
        self.said = sanitize(text).replace("\n", " ")
        self.update(Content(self.said))
        self.set_class(error, "-error")
        self.display = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(seconds, self.hush)

    def hush(self) -> None:
        self.said = ""
        self.display = False
