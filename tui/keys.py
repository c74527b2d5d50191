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

from collections.abc import Iterable

from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual.binding import Binding


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
