"""The sidebar: every conversation with its state, unread count and last activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from p2ptui.net import PeerStatus

from ..model import Conversation
from ..words import status_look


def activity_label(at: datetime, now: datetime) -> str:
    """When a conversation last saw a message: HH:MM today, "23 Nov" this year, else the year."""
    if at.date() == now.date():
        return f"{at:%H:%M}"
    if at.year == now.year:
        return f"{at.day} {at:%b}"
    return f"{at:%Y}"


def visible_peers(count: int, selected: int | None, rows: int) -> range:
    """Which peers the sidebar shows when they do not all fit in `rows` rows.

    The selected one stays in view; a row above or below says what is hidden
    there, so those rows are not peers.
    """
    if count <= rows:
        return range(count)
    if rows < 3:
        first = min(selected or 0, count - rows)
        return range(first, first + rows)
    first = (selected or 0) - (rows - 2) // 2
    if first <= 0:
        return range(0, rows - 1)  # Nothing hidden above: only the row below says "more".
    if first + rows - 2 >= count - 1:
        return range(count - (rows - 1), count)  # Nothing hidden below.
    return range(first, first + rows - 2)


@dataclass(frozen=True)
class SidebarRow:
    """What the sidebar shows of a conversation: equal snapshots draw the same."""

    peer: str
    status: PeerStatus
    path: str | None = None
    unread: int = 0
    new: bool = False
    last_activity: datetime | None = None
    verified: bool = False
    verification_lost: bool = False
    group: GroupRow | None = None

    @classmethod
    def of(cls, conversation: Conversation) -> SidebarRow:
        state = conversation.group
        group = None if state is None else GroupRow(state.count, state.connected, bool(state.invited_by),
                                                    bool(state.gone))
        return cls(conversation.peer, conversation.status, conversation.path, conversation.unread,
                   conversation.new, conversation.last_activity, conversation.verified,
                   conversation.verification_lost, group)


@dataclass(frozen=True)
class GroupRow:
    """What the sidebar shows of a group, beside what every conversation has."""

    members: int
    connected: int
    invited: bool = False
    """An invitation waits for /join."""
    gone: bool = False
    """We left, or were removed."""


def _trust_mark(conversation: SidebarRow) -> Content:
    """` ✓` after a verified peer's name; a loud ` ⚠` once a verified key changed."""
    if conversation.verification_lost:
        return Content.styled(" ⚠", "bold $text-error")
    if conversation.verified:
        return Content.styled(" ✓", "$text-success")
    return Content("")


class PeerList(Widget):
    """The sidebar: every conversation with its state, unread count and last activity.

    A row is `▶1 ● name (2)   09:30`: the selected one is marked with `▶` (and
    highlighted), the number is its Alt+number, the glyph its state. The time
    shows when it fits beside the name. When the peers do not all fit, the view
    follows the selected one and says how many are hidden, and how many of those
    have unread messages.
    """

    DEFAULT_CSS = """
    PeerList { width: 24; height: 1fr; padding: 0 1; border-right: vkey $foreground 20%; }
    """

    rows: reactive[tuple[SidebarRow, ...]] = reactive(tuple)
    """The conversations, in the sidebar's order (snapshots: a change redraws)."""
    selected: reactive[str | None] = reactive(None)
    presence_known: reactive[bool] = reactive(True)
    """False while the signalling server does not answer: peers not connected show as unknown."""
    now: reactive[datetime] = reactive(datetime.now, always_update=False)
    """For the times of the last messages: today's show the time, older ones the day."""

    def render(self) -> Content:
        width, height = self.content_size
        width = width or 22  # Before the first layout.
        conversations = self.rows
        # The groups come after the peers, under a heading of their own (one row more).
        first_group = next((i for i, row in enumerate(conversations) if row.group), len(conversations))
        heading = Content.styled("Groups", "bold")
        only_groups = first_group == 0 < len(conversations)
        rows: list[Content] = [heading if only_groups else Content.styled("Peers", "bold")]
        if not conversations:
            rows.append(Content.styled("none yet: Ctrl+O", "$text-muted"))
        names = [conversation.peer for conversation in conversations]
        selected = names.index(self.selected) if self.selected in names else None
        headings = 1 + (0 < first_group < len(conversations))
        shown = visible_peers(len(conversations), selected, max(1, height - headings) if height else len(names))
        if shown.start > 0:
            rows.append(self._hidden("↑", conversations[: shown.start], width))
        for index in shown:
            if index == first_group > 0 or (index == shown.start > first_group > 0):
                rows.append(heading)
            rows.append(self._row(index + 1, conversations[index], index == selected, width))
        if shown.stop < len(conversations):
            rows.append(self._hidden("↓", conversations[shown.stop :], width))
        return Content("\n").join(rows)

    @staticmethod
    def _hidden(arrow: str, conversations: tuple[SidebarRow, ...], width: int = 0) -> Content:
        unread = sum(1 for conversation in conversations if conversation.unread or conversation.new)
        more = Content.styled(f"{arrow} {len(conversations)} more", "$text-muted")
        if not unread:
            return more
        # In a narrow sidebar a shorter form, so "unread" is never cut to "unr".
        count = len(conversations)
        for long, tail in ((f"{arrow} {count} more", f", {unread} unread"), (f"{arrow} {count}", f", {unread} unread")):
            if not width or len(long + tail) <= width:
                return Content.styled(long, "$text-muted") + Content.styled(tail, "bold $text-accent")
        return Content.styled(f"{arrow} {count}", "$text-muted") + Content.styled(f" ({unread})", "bold $text-accent")

    def _row(self, number: int, conversation: SidebarRow, selected: bool, width: int) -> Content:
        prefix = f"{'▶' if selected else ' '}{number if number <= 9 else ' '} "
        if conversation.group is not None:
            return self._group_row(prefix, conversation, conversation.group, selected, width)
        look = status_look(conversation.status, conversation.path, presence_known=self.presence_known)
        if conversation.unread:
            badge = Content.styled(f" ({min(conversation.unread, 999)})", "bold $text-accent")
        elif conversation.new:
            badge = Content.styled(" new", "bold $text-accent")
        else:
            badge = Content("")
        trust = _trust_mark(conversation)
        name = conversation.peer  # Names are ASCII: one cell a character.
        room = width - len(prefix) - 2 - len(badge.plain) - trust.cell_length
        if len(name) > room:
            name = name[: max(1, room - 1)] + "…"
        name_style = "bold" if selected or conversation.unread or conversation.new else ""
        row = Content.assemble(prefix, (look.glyph, look.style), " ", (name, name_style), trust, badge)
        return self._finish(row, conversation, selected, width)

    def _finish(self, row: Content, conversation: SidebarRow, selected: bool, width: int) -> Content:
        """The time of the last message, when it fits, and the highlight of the selected row."""
        last = conversation.last_activity
        when = activity_label(last, self.now) if last else ""
        if when and row.cell_length + 1 + len(when) <= width:
            row = Content.assemble(row, " " * (width - row.cell_length - len(when)), (when, "$text-muted"))
        if selected:
            row = row.pad_right(width - row.cell_length).stylize_before("on $block-cursor-blurred-background")
        return row

    def _group_row(self, prefix: str, row: SidebarRow, group: GroupRow, selected: bool, width: int) -> Content:
        """`▶5 #team 4 (2)  09:30`: the member count beside the name; `invited` while an
        invitation waits, `left` once we are out. `#` is green while a member is connected."""
        if row.unread:
            badge = Content.styled(f" ({min(row.unread, 999)})", "bold $text-accent")
        elif group.invited:
            badge = Content.styled(" invited", "bold $text-accent")
        elif group.gone:
            badge = Content.styled(" left", "$text-muted")
        else:
            badge = Content("")
        count = "" if group.invited or group.gone else f" {group.members}"
        name = row.peer[1:]
        room = width - len(prefix) - 1 - len(count) - len(badge.plain)
        if len(name) > room:
            name = name[: max(1, room - 1)] + "…"
        mark = "$success" if group.connected else "$text-muted"
        name_style = "bold" if selected or row.unread or group.invited else ""
        content = Content.assemble(prefix, ("#", mark), (name, name_style), (count, "$text-muted"), badge)
        return self._finish(content, row, selected, width)
