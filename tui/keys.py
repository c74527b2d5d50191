"""Keys over SSH and tmux, and keys in words for the help screen.

Terminals (and tmux, and SSH) send Alt+1 as ESC followed by "1". Textual 8
maps that pair to the character macOS types for Option+1 ("¡"), so a binding
on "alt+1" never fires. ESC+letter it reads as Alt+letter, but only once no
more input follows for ESCDELAY (0.1 s): when more arrives at once, as it
does over a slow link or from `tmux send-keys`, "ESC a ESC b" becomes "^",
"a", Alt+B. By the xterm convention ESC+key is Alt+key, and that is what a
keyboard-driven chat over SSH needs, so the pairs the app binds go into
Textual's table as Alt keys: recognised at once, whatever follows (a "¡"
typed as such still arrives as "¡"). tests/test_app.py and
tests/test_switching.py feed them to Textual's own parser, guarding this
against Textual upgrades.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual.app import App
from textual.binding import Binding
from textual.message_pump import MessagePump
from textual.timer import Timer


class _AltKey(str):
    """A key name where Textual's table wants a `Keys` member: it reads only `.value`,
    and `Keys` has no Alt keys."""

    @property
    def value(self) -> str:
        return str(self)


#: The characters whose ESC pairs the app binds as Alt keys: Alt+0..9 and Alt+A.
ALT_CHARACTERS = "0123456789a"


def use_escape_as_alt(characters: str = ALT_CHARACTERS) -> None:
    """ESC followed by each of these characters is Alt+that character, at once."""
    for character in characters:
        ANSI_SEQUENCES_KEYS[f"\x1b{character}"] = (_AltKey(f"alt+{character}"),)  # type: ignore[assignment]


_KEY_NAMES = {"pageup": "PageUp", "pagedown": "PageDown", "question_mark": "?", "escape": "Esc"}


def key_name(key: str) -> str:
    """A Textual key as people write it: "ctrl+j" is "Ctrl+J", "question_mark" is "?"."""
    *modifiers, base = key.strip().split("+")
    base = _KEY_NAMES.get(base, base.upper() if len(base) == 1 else base.capitalize())
    return "+".join([*(modifier.capitalize() for modifier in modifiers), base])


def describe_keys(bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen, one row per action or Binding.Group.

    The words are the binding's tooltip, else its description (the footer's
    label); a group's are its description. A group of more than three keys
    shows as a range, "Alt+1 … Alt+9".
    """
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        row = f"group: {binding.group.description}" if binding.group else binding.action
        text = binding.group.description if binding.group else (binding.tooltip or binding.description)
        keys, _ = rows.setdefault(row, ([], text))
        keys += [name for name in map(key_name, binding.key.split(",")) if name not in keys]
    return [
        (f"{keys[0]} … {keys[-1]}" if len(keys) > 3 else ", ".join(keys), text)
        for keys, text in rows.values()
    ]


#: What the terminal types: keys, and pastes (bracketed), which must keep their place among them.
_Input = events.Key | events.Paste


class KeysInOrder:
    """Keys from the terminal, taken one at a time, each once the one before has taken effect.

    Textual runs a priority binding (Enter, Ctrl+K, Alt+1, ...) in the app's own
    message queue the moment its key is read, but types a character by posting
    it to the focused widget's queue, and a binding that is not a priority one
    runs only when its key has bubbled back up to the app. Keys that arrive in
    one burst (a laggy SSH link, mosh, a text expander, a paste without
    bracketed paste) were therefore taken out of order: Enter sent half a line,
    a `?` in a sentence opened the help, a line typed after Ctrl+K went into
    the message input instead of the quick switcher.

    So the app hands Textual one key, then waits, without blocking its own
    queue, until that key has settled: a callback goes hop by hop from the
    focused widget up through its ancestors to the app, so it arrives after
    the key and what the key made bubble up (a dialog's Enter, its Submitted
    message and the dismissal; the first round is queued before what the
    widget posts while it handles the key, so keys that are not text get a
    second). A key that is not plain text goes
    round twice, and again while the focus moves (a dialog opening or
    closing), so the next key goes where the user saw it go.
    """

    #: If a round never comes back (a widget closed under it), the keys go on after this long.
    STUCK_AFTER = 0.5
    MAX_ROUNDS = 5

    def __init__(self, app: App, dispatch: Callable[[_Input], Awaitable[None]]) -> None:
        """`dispatch` hands a key to Textual (the App's own `on_event`)."""
        self._app = app
        self._dispatch = dispatch
        self._waiting: deque[_Input] = deque()
        self._busy_since: float | None = None
        self._round = 0
        """Which settling round is out: a late one from before a stuck release is ignored."""
        self._rounds_left = 0
        self._rounds_spent = 0
        self._watchdog: Timer | None = None

    @property
    def waiting(self) -> int:
        """Keys read and not yet taken, the one settling included."""
        return len(self._waiting) + (self._busy_since is not None)

    async def arrived(self, key: _Input) -> None:
        """A key from the terminal: taken now, or once the ones before it have settled."""
        if self._watchdog is None:
            # Without it, keys behind a round that never came back would wait for the next key.
            self._watchdog = self._app.set_interval(self.STUCK_AFTER, self._let_go_if_stuck)
        self._waiting.append(key)
        if self._busy_since is None or self._stuck():
            await self._next()

    def _stuck(self) -> bool:
        return self._busy_since is not None and time.monotonic() - self._busy_since > self.STUCK_AFTER

    async def _let_go_if_stuck(self) -> None:
        if self._stuck():
            self._round += 1  # A round still out is ignored when it comes back.
            await self._next()

    async def _next(self) -> None:
        if not self._waiting:
            self._busy_since = None
            return
        key = self._waiting.popleft()
        self._busy_since = time.monotonic()
        target = self._target()
        await self._dispatch(key)
        plain = (isinstance(key, events.Paste) or key.is_printable) and self._target() is target
        self._rounds_left = 1 if plain else 2
        self._rounds_spent = 0
        # A character typed into the focused widget stops there: its round need not climb.
        self._send_round(up=not plain)

    def _target(self) -> MessagePump:
        return self._app.focused or self._app.screen

    def _send_round(self, *, up: bool = True) -> None:
        """A callback from the focused widget (up through its ancestors) to the app."""
        self._round += 1
        self._rounds_spent += 1
        number, target = self._round, self._target()
        hops = [node for node in (target, *(target.ancestors if up else ())) if node is not self._app]

        def hop(index: int) -> None:
            while index < len(hops):
                if hops[index].call_later(hop, index + 1):
                    return
                index += 1  # That one is closing: on to its parent.
            self._app.call_later(self._round_back, number, target)

        hop(0)

    async def _round_back(self, number: int, target: MessagePump) -> None:
        if number != self._round:
            return  # From before a stuck key was let go.
        self._rounds_left -= 1
        moved = self._target() is not target
        if (self._rounds_left > 0 or moved) and self._rounds_spent < self.MAX_ROUNDS:
            self._send_round()
        else:
            await self._next()
