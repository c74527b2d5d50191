"""Make text from a peer safe to show: the one place peer text enters the UI.

Textual and Rich pass terminal escape sequences through even with markup off,
so a peer could move the cursor, retitle the window or plant an OSC 8 link.
Nothing that is not printable text reaches the screen, and nothing is taken
away unseen: an escape sequence becomes one `␛` where it was (its bytes would
act on the terminal), a C0 control its Unicode control picture (`␇`), and a
C1 control or a bidirectional override or isolate its code point, `⟨U+202E⟩`.
Markup is not this module's concern: the UI never parses peer text as markup.

Two emoji marks are left out because terminals and Textual disagree on how
wide they are, which shifts the rest of the row (and every row wrapped after
it): a skin-tone modifier (tmux 3.3 draws it as two more cells than Textual
counts) and the emoji presentation selector U+FE0F (tmux draws `❤️` one cell,
Textual counts two). The emoji itself stays.
"""

from __future__ import annotations

import re

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC
# (ESC P/X/^/_ ... ST), and two-character ones (ESC + one byte).
_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]?             # CSI
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?        # DCS, SOS, PM, APC
  | \x1b[\x20-\x7e]?                     # two-character sequences, or a lone ESC
    """,
    re.VERBOSE,
)

# Bidirectional overrides and isolates can make text read differently from what
# it is (CVE-2021-42574, "Trojan Source").
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

#: Where an escape sequence was removed.
ESCAPE_MARK = "\u241b"  # ␛

_SKIN_TONES = range(0x1F3FB, 0x1F400)
_EMOJI_PRESENTATION = 0xFE0F


def code_point(code: int) -> str:
    """A character shown by its code point: ⟨U+202E⟩."""
    return f"\u27e8U+{code:04X}\u27e9"


_REPLACEMENTS: dict[int, str | None] = {
    # C0 controls become their Unicode "control picture" (U+2400 block).
    **{code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in "\n\t"},
    0x7F: "\u2421",  # DEL
    **{code: code_point(code) for code in range(0x80, 0xA0)},  # C1 controls, 8-bit CSI among them
    **{ord(char): code_point(ord(char)) for char in _BIDI_CONTROLS},
    ord("\t"): "    ",
    **{code: None for code in _SKIN_TONES},
    _EMOJI_PRESENTATION: None,
}


_ACTING = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI_CONTROLS}]")


def first_acting(text: str) -> int:
    """Where text's first character that acts on the terminal (ESC, another control, a bidi
    override) is, or -1: text drawn as it is, as an input draws what it holds, stops before it."""
    found = _ACTING.search(text)
    return found.start() if found else -1


def sanitize(text: str) -> str:
    """text safe to show: escape sequences marked `␛`, other controls made visible; newlines kept."""
    return _ESCAPE_SEQUENCE.sub(ESCAPE_MARK, text).translate(_REPLACEMENTS)
