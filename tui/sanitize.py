"""Make text from a peer safe to show: the one place peer text enters the UI.

Textual and Rich pass terminal escape sequences through even with markup off,
so a peer could move the cursor, retitle the window or plant an OSC 8 link.
Everything that is not printable text is removed (escape sequences) or made
visible (other control characters, bidirectional overrides). Markup is not
this module's concern: the UI never parses peer text as markup at all.
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

_REPLACEMENTS = {
    # C0 controls become their Unicode "control picture" (U+2400 block).
    **{code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in "\n\t"},
    0x7F: "\u2421",  # DEL
    **{code: "\ufffd" for code in range(0x80, 0xA0)},  # C1 controls, 8-bit CSI among them
    **{ord(char): "\ufffd" for char in _BIDI_CONTROLS},
    ord("\t"): "    ",
}


def sanitize(text: str) -> str:
    """text with escape sequences removed and other controls made visible; newlines kept."""
    return _ESCAPE_SEQUENCE.sub("", text).translate(_REPLACEMENTS)
