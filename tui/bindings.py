"""The app's keys, and the help screen made from them and the command table.

Function keys and Ctrl or Alt with a letter reach the app through tmux and SSH;
Ctrl+B does not (it is tmux's prefix), so the sidebar is on F4. Priority
bindings act while the input has focus; each one a dialog needs for itself
(Ctrl+K deletes to the end of an Input) skips while a dialog is up. Every key,
priority or not, takes effect in the order it arrived (`keys.KeysInOrder`).
"""

from __future__ import annotations

from textual.binding import Binding

from .commands import COMMANDS
from .keys import describe_keys
from .widgets import MessageInput
from .words import STATUS_ICON, HelpSection

JUMP = Binding.Group("the Nth conversation in the sidebar (its number there)")
SCROLL = Binding.Group("scroll the conversation back and forward; the input keeps what you are typing")
ENDS = Binding.Group("the oldest and the newest message, when the input is empty")

KEYS: list[Binding] = [
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


def help_sections(keys: list[Binding], palette_key: str) -> list[HelpSection]:
    """Made from the bindings and the command table, so that it says what the app does."""
    palette = Binding(palette_key, "command_palette",
                      tooltip="Textual's command palette: every action and conversation by name")
    keys_rows = describe_keys([*keys, palette])
    writing = describe_keys(binding for binding in MessageInput.BINDINGS if binding.action != "help")
    commands = [(f"{c.name} {c.argument}".strip(), c.help) for c in COMMANDS]
    sidebar = [(look.glyph, look.words) for look in STATUS_ICON.values()]
    sidebar += [
        ("▶", "the conversation shown"),
        ("(2)", "messages you have not seen; new: someone started a conversation with you"),
        ("09:30, 23 Nov", "the last message, today or on an earlier day"),
        ("#team 4", "a group (below the peers) and how many are in it; invited: /join to join it"),
    ]
    log = [
        ("…", "your message, sent, not yet delivered (waiting in the outbox if the peer is offline)"),
        ("✓", "your message, delivered to the peer's app"),
        ("--", "a line from p2ptui: a connection made, changed or lost, a key changed"),
        ("── new ──", "what arrived while you were elsewhere starts below it"),
        ("▕██░░▏ 62%", "a file on its way, either way: /accept or Enter takes an offer, /decline, /cancel"),
    ]
    return [
        HelpSection("Writing", writing),
        HelpSection("Keys", keys_rows),
        HelpSection("Commands (Tab completes them)", commands),
        HelpSection("The sidebar", sidebar),
        HelpSection("The log", log),
    ]
