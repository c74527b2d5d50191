"""The status line at the top: who you are, where signalling is, the latest problem."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from ..words import fit_parts


class StatusLine(Widget):
    """Who you are, where signalling is, and the latest problem, if any: whole parts,
    or a part cut after a word, never mid-word."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    StatusLine.-error { background: $error 30%; }
    """

    parts: reactive[tuple[str, ...]] = reactive(tuple)

    def render(self) -> Content:
        return Content(fit_parts(list(self.parts), self.content_size.width or 78))
