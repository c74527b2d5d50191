"""Peer text made safe to show."""

import pytest

from p2ptui.sanitize import sanitize


@pytest.mark.parametrize(
    "hostile, shown",
    [
        ("plain text, ünïcode, 漢字, 🎉", "plain text, ünïcode, 漢字, 🎉"),
        ("two\nlines", "two\nlines"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b]0;new title\x07after", "after"),
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1bPdevice control\x1b\\x", "x"),
        ("bell\x07", "bell\u2407"),
        ("nul\x00", "nul\u2400"),
        ("\x9b31m8-bit CSI", "\ufffd31m8-bit CSI"),
        ("a\u202eb", "a\ufffdb"),
        ("tab\there", "tab    here"),
        ("lone escape \x1b", "lone escape "),
    ],
)
def test_sanitize(hostile, shown):
    assert sanitize(hostile) == shown
