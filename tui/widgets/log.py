"""The conversation log: the selected conversation, drawn row by row (Textual's line API).

One class over 400 lines on purpose: adding, changing in place (a transfer's
line) and inserting (a group's late message) all move the same row index,
scroll position and read marker, which a split would have to share.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..model import Conversation, Line, LineKind
from ..rows import RowIndex, wrap
from ..words import describe, fit_parts


def _state(line: Line) -> str:
    if not line.own:
        return " "
    return "✗" if line.failed else "✓" if line.delivered else "…"


class ConversationLog(ScrollView, can_focus=False):
    """The selected conversation, drawn row by row (Textual's line API).

    Only the rows in view are wrapped and rendered, so a conversation of 100,000
    messages opens as fast as one of ten. A RowIndex says which message is at
    which row: a message counts as one row until it comes into view and is
    measured (see `_settle`). Text is plain and never parsed as markup.

    A message row is `HH:MM S <sender> text`. The S column is the delivery state
    of your own messages, `…` sent, `✓` delivered and `✗` never sent (the core
    refused it: a full disk), and is blank for the
    peer's: without colour, a glance down that column tells yours from theirs.
    Senders are right-aligned in one column, as in WeeChat, so the text column
    is the same for every row and wrapped rows hang under it. Lines about the
    connection show `--` as their sender.
    """

    COMPONENT_CLASSES = {
        "conversation-log--time",
        "conversation-log--state",
        "conversation-log--own",
        "conversation-log--peer",
        "conversation-log--system",
        "conversation-log--day",
        "conversation-log--marker",
        "conversation-log--more",
    }
    DEFAULT_CSS = """
    ConversationLog {
        height: 1fr; padding: 0 1; background: $surface;
        overflow-x: hidden; overflow-y: auto; scrollbar-gutter: stable; scrollbar-size-vertical: 1;
        border-top: hkey $foreground 20%; border-title-color: $text-muted; border-title-align: left;
    }
    ConversationLog > .conversation-log--time { color: $text-muted; }
    ConversationLog > .conversation-log--state { color: $text-muted; }
    ConversationLog > .conversation-log--own { color: $text-primary; text-style: bold; }
    ConversationLog > .conversation-log--peer { color: $text-accent; text-style: bold; }
    ConversationLog > .conversation-log--system { color: $text-muted; }
    ConversationLog > .conversation-log--day { color: $text-muted; }
    ConversationLog > .conversation-log--marker { color: $text-warning; text-style: bold; }
    ConversationLog > .conversation-log--more { text-style: reverse bold; }
    """

    MAX_SENDER_WIDTH = 14
    MIN_TEXT_WIDTH = 10

    class ReachedTop(Message):
        """The reader is at the oldest line shown: time to load older history."""

    def __init__(self, *, me: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.me = me
        self.presence_known = True
        """False while the signalling server does not answer: the title says so."""
        self._conversation: Conversation | None = None
        self._marker: int | None = None
        self._following = True
        """Scrolled to the bottom, so new lines scroll into view (as in WeeChat)."""
        self._unseen = 0
        """Messages that arrived below the view while scrolled up."""
        self._width = -1
        """The width the index and caches were built for."""
        self._sender_width = 0
        self._text_width = self.MIN_TEXT_WIDTH
        self._index = RowIndex()
        self._wrapped: LRUCache[int, list[str]] = LRUCache(512)
        self._strips: LRUCache[tuple[int, int, bool, bool, int], Strip] = LRUCache(1024)
        self._plain = Style()
        """The widget's own style this frame (see render_lines)."""

    # --- What the app calls ---------------------------------------------------------------

    def show(self, conversation: Conversation | None) -> None:
        """Show a conversation from its bottom, with its read marker where the model put it."""
        self._conversation = conversation
        self._marker = conversation.read_marker if conversation else None
        self._following = True
        self._unseen = 0
        self._sender_width = self._senders_width()
        self._width = -1  # Lay out afresh on the next settle.
        self.update_title()
        self._settle()
        self.refresh()

    def _senders_width(self) -> int:
        conversation = self._conversation
        if conversation is None:
            return 0
        names = (f"<{self.me}>", f"<{conversation.peer}>")
        if conversation.group is not None:  # Its members write there, and we show as "you".
            names = ("<you>", *(f"<{name}>" for name in conversation.group.member_names))
        return min(max(map(len, names)), self.MAX_SENDER_WIDTH)

    def update_senders(self) -> None:
        """A group's members changed: its sender column may widen or narrow."""
        width = self._senders_width()
        if width != self._sender_width:
            self._sender_width = width
            self._width = -1
            self.refresh()

    def update_title(self) -> None:
        """The border says whom the conversation is with and how the connection stands."""
        conversation = self._conversation
        title = ""
        if conversation is not None:
            title = f"{conversation.peer}: {describe(conversation, presence_known=self.presence_known)}"
        # Cut after a whole word to fit the border (its corners and a space each side).
        room = self.outer_size.width - 4 if self.outer_size.width else 200
        self.border_title = Content(fit_parts([title], max(8, room)) if title else "")

    def on_resize(self) -> None:
        self.update_title()

    def add(self, line: Line) -> None:
        """`line` was appended to the conversation shown."""
        self._index.append()
        if line.own:
            self._following = True  # What you send, you see.
        elif not self._following and line.kind is LineKind.MESSAGE:
            self._unseen += 1
        self.refresh()

    def changed(self, line: Line) -> None:
        """`line`, in the conversation shown, changed in place (a transfer's progress): drawn
        anew, and if its height changed, what is in view stays where it was."""
        lines = self._lines
        index = next((i for i in range(len(lines) - 1, -1, -1) if lines[i] is line), None)
        if index is None or index >= self._index.count:
            return
        self._wrapped.discard(index)
        if self._index.is_measured(index):
            top = self.scroll_offset.y
            above = self._index.start(index) < top
            delta = self._index.update(index, self._height(index))
            if delta:
                self._sync_virtual_size()
                if self._following:
                    self._scroll_to_row(self.max_scroll_y)
                elif above:
                    self._scroll_to_row(top + delta)
        self.refresh()  # Textual keeps the rows it drew: same height or not, they must be drawn again.

    def inserted(self, index: int, line: Line) -> None:
        """`line` went in at `index` of the conversation shown (a group's late message), or moved
        there (ours, placed by the core): lay out afresh, keeping the read marker on its line."""
        if self._conversation is None:
            return
        if index >= len(self._lines) - 1 and self._index.count == len(self._lines) - 1:
            self.add(line)  # At the end, as most are.
            return
        self._marker = self._conversation.read_marker
        if not self._following and not line.own and line.kind is LineKind.MESSAGE:
            self._unseen += 1
        self._width = -1  # Every row from `index` on moved.
        self.refresh()

    def page_up(self) -> None:
        self._settle()
        page = self._page()
        top = self.scroll_offset.y
        if top > 0:
            index, offset = self._index.locate(top)
            # Measure the page above first, so that it moves a page of rows, not of guesses.
            top += self._measure(range(index - 1, -1, -1), page - offset)
            self._sync_virtual_size()
        self._scroll_to_row(top - page)
        if top - page <= 0:
            self.post_message(self.ReachedTop())

    def page_down(self) -> None:
        self._settle()
        self._scroll_to_row(self.scroll_offset.y + self._page())

    def scroll_to_start(self) -> None:
        self._scroll_to_row(0)
        self.post_message(self.ReachedTop())

    def prepended(self, count: int) -> None:
        """count older lines were put before those shown: the view stays on what it showed."""
        if self._conversation is None or not count:
            return
        if self._marker is not None:
            self._marker += count
        if self._following:
            self._settle()
        else:
            top_message = self._index.locate(self.scroll_offset.y)[0] if self._index.count else 0
            self._lay_out(self._view.width)
            self._sync_virtual_size()
            self._scroll_to_row(self._index.start(top_message + count))
            self._settle()
        self.refresh()

    def follow(self) -> None:
        """Back to the bottom, and stay there as lines arrive."""
        self._following = True
        self._settle()
        self.refresh()

    def visible_text(self) -> str:
        """The rows as they are on screen now: for tests, and anyone reading the log out."""
        self._settle()
        self._plain = self.rich_style
        return "\n".join(self.render_line(y).text.rstrip() for y in range(self._view.height))

    # --- Laying out -----------------------------------------------------------------------

    @property
    def _lines(self) -> list[Line]:
        return self._conversation.lines if self._conversation else []

    @property
    def _view(self) -> Size:
        """The cells really drawn: the content less the scrollbar, when it shows
        (`size` counts its column, and a row that wide lost its last character under it)."""
        return self.scrollable_content_region.size

    def _page(self) -> int:
        # The view less the "-- more --" row, less one row that stays in sight to read on from.
        return max(1, self._view.height - 2)

    def _scroll_to_row(self, row: int) -> None:
        # Forced: until the next layout, Textual may not know the new height has a scrollbar.
        self.scroll_to(y=row, animate=False, immediate=True, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Textual moves the thumb only while the scrollbar is shown; we scroll before the
        # layout that shows it, and it would appear at the top.
        self.vertical_scrollbar.position = new_value
        # Only scrolling moves scroll_y (new lines do not), so this is where the reader
        # leaves the bottom or comes back to it.
        self._following = round(new_value) >= self.max_scroll_y
        if self._following:
            self._unseen = 0
        elif new_value <= 0 < old_value:
            self.post_message(self.ReachedTop())  # The wheel, or the scrollbar, got there.

    def _settle(self) -> None:
        """Lay out for the current width, and measure the messages in view.

        Measuring from the top row of the view downwards never moves what is
        above it, so the view does not jump; when following, measure from the
        bottom up and stay at the bottom. (PageUp measures the page above itself.)
        """
        width, height = self._view
        if width != self._width or len(self._lines) != self._index.count:
            # A new width, or lines that did not come through add(): index afresh.
            top_message = None if self._following else self._index.locate(self.scroll_offset.y)[0]
            self._lay_out(width)
            if top_message is not None and top_message < self._index.count:
                # Rewrapped for a new width: keep the message that was at the top there.
                self._sync_virtual_size()
                self._scroll_to_row(self._index.start(top_message))
        count = len(self._lines)
        if self._following:
            self._measure(range(count - 1, -1, -1), height)
            self._sync_virtual_size()
            if self.scroll_offset.y != self.max_scroll_y:
                self._scroll_to_row(self.max_scroll_y)
        else:
            top = self.scroll_offset.y
            if top < self._index.rows:
                index, offset = self._index.locate(top)
                # A page more than the view: the bottom must be exact before one PageDown or
                # turn of the wheel can reach it, or following it would skip what is between.
                self._measure(range(index, count), offset + 2 * height)
            self._sync_virtual_size()

    def _lay_out(self, width: int) -> None:
        self._width = width
        self._text_width = max(self.MIN_TEXT_WIDTH, width - self._text_column)
        self._index = RowIndex(len(self._lines))
        self._wrapped.clear()
        self._strips.clear()

    @property
    def _text_column(self) -> int:
        return len("HH:MM S ") + self._sender_width + len(" ")

    def _sync_virtual_size(self) -> None:
        self.virtual_size = Size(self._width, self._index.rows)

    def _measure(self, indices: Iterable[int], rows: int) -> int:
        """Measure messages in turn until they cover `rows` rows; returns how many rows that added."""
        heights: dict[int, int] = {}
        covered = 0
        for index in indices:
            if covered >= rows:
                break
            if self._index.is_measured(index):
                covered += self._index.height(index)
            else:
                heights[index] = self._height(index)
                covered += heights[index]
        self._index.record(heights)
        return sum(heights.values()) - len(heights)

    def _height(self, index: int) -> int:
        return self._starts_day(index) + (index == self._marker) + len(self._wrap(index))

    def _starts_day(self, index: int) -> bool:
        lines = self._lines
        return index == 0 or lines[index].at.date() != lines[index - 1].at.date()

    def _wrap(self, index: int) -> list[str]:
        rows = self._wrapped.get(index)
        if rows is None:
            rows = self._wrapped[index] = wrap(self._lines[index].text_at(self._text_width), self._text_width)
        return rows

    # --- Rendering --------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._settle()  # Scrolled by the mouse or resized: measure what came into view.
        # The widget's own style, once a frame: Textual works it out from every ancestor.
        self._plain = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        """Row y of the view (render_lines sets the style first; visible_text calls this too)."""
        row = self.scroll_offset.y + y
        if y == self._view.height - 1 and self._shows_more():
            strip = self._more_row()
        elif row < self._index.rows:
            strip = self._content_row(*self._index.locate(row))
        elif row == 0 and self._conversation is None:
            strip = self._row("Open a conversation: /open NAME or Ctrl+O.", "system")
        else:
            strip = Strip.blank(self._width, self._plain)
        return strip.adjust_cell_length(self._view.width, self._plain)

    def _shows_more(self) -> bool:
        return not self._following and self.scroll_offset.y < self.max_scroll_y

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(f"conversation-log--{component}")

    def _row(self, text: str, component: str) -> Strip:
        return Strip([Segment(text, self._style(component))])

    def _more_row(self) -> Strip:
        news = f" ({self._unseen} new)" if self._unseen else ""
        return self._row(f"-- more{news} --".ljust(self._width), "more")

    def _content_row(self, index: int, offset: int) -> Strip:
        line = self._lines[index]
        key = (index, offset, line.delivered, line.failed, line.version)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._render_block_row(index, offset)
        return strip

    def _render_block_row(self, index: int, offset: int) -> Strip:
        """Row `offset` of a message's block: a day separator, the read marker, then its text."""
        line = self._lines[index]
        if self._starts_day(index):
            if offset == 0:
                day = f"── {line.at:%A} {line.at.day} {line.at:%B %Y} ──"
                return self._row(day.center(self._width), "day")
            offset -= 1
        if index == self._marker:
            if offset == 0:
                return self._row("── new ".ljust(self._width, "─"), "marker")
            offset -= 1
        return self._message_row(index, offset)

    def _message_row(self, index: int, offset: int) -> Strip:
        line = self._lines[index]
        text = self._wrap(index)[offset]
        text_style = self._style("system") if line.kind is LineKind.SYSTEM else self._plain
        plain = self._plain
        if offset:  # A wrapped row hangs under the text column.
            return Strip([Segment(" " * self._text_column, plain), Segment(text, text_style)])
        if line.kind is LineKind.SYSTEM:
            state, sender, sender_style = " ", "--", "system"
        else:
            state = _state(line)
            sender, sender_style = self._sender(line.sender), "own" if line.own else "peer"
        return Strip(
            [
                Segment(f"{line.at:%H:%M} ", self._style("time")),
                Segment(state, self._style("state")),
                Segment(" " + " " * (self._sender_width - len(sender)), plain),
                Segment(sender, self._style(sender_style)),
                Segment(" ", plain),
                Segment(text, text_style),
            ]
        )

    def _sender(self, name: str) -> str:
        sender = f"<{name}>"
        if len(sender) > self._sender_width:  # Names are ASCII: one cell a character.
            sender = f"<{name[: self._sender_width - 3]}…>"
        return sender
