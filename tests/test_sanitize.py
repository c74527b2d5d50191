"""Peer text made safe to show."""

import pytest

from p2ptui.sanitize import sanitize


@pytest.mark.parametrize(
    "hostile, shown",
    [
        ("plain text, ünïcode, 漢字, 🎉", "plain text, ünïcode, 漢字, 🎉"),
        ("two\nlines", "two\nlines"),
        # Escape sequences are removed, and a ␛ shows where each one was.
        ("\x1b[31mred\x1b[0m", "␛red␛"),
        ("\x1b[2J\x1b[Hcleared", "␛␛cleared"),
        ("\x1b]0;new title\x07after", "␛after"),
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "␛link␛"),
        ("\x1bPdevice control\x1b\\x", "␛x"),
        ("bell\x07", "bell\u2407"),
        ("nul\x00", "nul\u2400"),
        # C1 controls and bidirectional overrides and isolates by their code points.
        ("\x9b31m8-bit CSI", "⟨U+009B⟩31m8-bit CSI"),
        ("a\u202eb", "a⟨U+202E⟩b"),
        ("\u2066isolated\u2069", "⟨U+2066⟩isolated⟨U+2069⟩"),
        ("tab\there", "tab    here"),
        ("lone escape \x1b", "lone escape ␛"),
        # Marks terminals and Textual measure differently: the emoji stays, the mark goes.
        ("ok 👍🏽 then", "ok 👍 then"),
        ("love ❤\ufe0f", "love ❤"),
    ],
)
def test_sanitize(hostile, shown):
    assert sanitize(hostile) == shown


def test_sanitised_emoji_are_as_wide_to_textual_as_tmux_draws_them():
    from textual.content import Content

    # tmux 3.3 draws a👍🏽b in 6 cells and a❤️b in 3, where Textual counts 4 for both.
    assert Content(sanitize("a👍🏽b")).cell_length == 1 + 2 + 1
    assert Content(sanitize("a❤\ufe0fb")).cell_length == 1 + 1 + 1
