"""QR codes drawn with text, two modules to a character cell (half blocks).

A terminal cell is about twice as tall as it is wide, so one cell holding an
upper and a lower module draws square modules: a 60-digit safety number
(version 2, 25x25 modules) with a quiet zone of 2 takes 29 columns and 15
rows. segno makes the code; this module only draws its matrix.
"""

from __future__ import annotations

QUIET_ZONE = 2
"""Modules of light margin on each side. The standard asks for 4; 2 is what
scanners need in practice, and keeps the code within a 60x20 dialog. The
command line, with room to spare, uses the standard 4."""
ERROR_LEVEL = "m"
"""15% of the code may be unreadable (a glare on the screen) and it still scans."""

# (upper module dark, lower module dark) -> the character that draws both.
_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_lines(text: str, *, border: int = QUIET_ZONE, invert: bool = False) -> list[str]:
    """The QR code of text, as lines of equal width; the drawn (foreground)
    characters are its dark modules, so show them dark on a light background.

    invert: draw the light modules instead, for a light foreground on a dark
    background with no colours to set (a plain dark terminal).
    Raises ValueError if text is too long for a QR code.
    """
    import segno  # Here, not at the top: the app's first frame does not wait for it.

    try:
        code = segno.make(text, error=ERROR_LEVEL, micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise ValueError(f"too long for a QR code: {exc}") from None
    rows = [[bool(module) != invert for module in row] for row in code.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([invert] * len(rows[0]))  # One more row of margin fills the last cells.
    return ["".join(_CELLS[pair] for pair in zip(upper, lower)) for upper, lower in zip(rows[::2], rows[1::2])]
