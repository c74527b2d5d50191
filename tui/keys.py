"""Alt+digit over SSH and tmux.

Terminals send Alt+1 as ESC followed by "1". Textual 8 maps that pair to the
character macOS types for Option+1 ("¡"), so a binding on "alt+1" never
fires. By the xterm convention ESC+key is Alt+key, and that is what a
keyboard-driven chat over SSH needs; dropping the digit entries from
Textual's table makes its parser report "alt+1" … "alt+9" (a "¡" typed as
such still arrives as "¡"). tests/test_keys.py guards this against Textual
upgrades.
"""

from __future__ import annotations

from textual._ansi_sequences import ANSI_SEQUENCES_KEYS


def use_escape_digit_as_alt() -> None:
    for digit in "0123456789":
        ANSI_SEQUENCES_KEYS.pop(f"\x1b{digit}", None)  # type: ignore[misc]
