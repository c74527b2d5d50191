"""QR codes as text: their size, margin and content, checked against segno's own matrix."""

import pytest
import segno

from p2ptui.qr import qr_lines

NUMBER = "075362714455560201043650082844788061801066304434201883017403"
UPPER = {" ": False, "▀": True, "▄": False, "█": True}
LOWER = {" ": False, "▀": False, "▄": True, "█": True}


def modules(lines: list[str]) -> list[list[bool]]:
    """The module matrix the lines draw (dark = True), read back cell by cell."""
    rows = []
    for line in lines:
        rows.append([UPPER[c] for c in line])
        rows.append([LOWER[c] for c in line])
    return rows


def test_a_safety_number_fits_a_60x20_dialog_and_80x24():
    lines = qr_lines(NUMBER)
    assert len(lines) == 15 and {len(line) for line in lines} == {29}  # version 2, 25 modules + 2 x 2
    wide = qr_lines(NUMBER, border=4)
    assert len(wide) == 17 and {len(line) for line in wide} == {33}


def test_it_draws_exactly_the_matrix_segno_makes_for_the_number():
    expected = [[bool(m) for m in row] for row in segno.make(NUMBER, error="m").matrix_iter(border=2)]
    drawn = modules(qr_lines(NUMBER))
    assert drawn[: len(expected)] == expected
    assert drawn[len(expected) :] == [[False] * 29]  # the odd row filled with margin
    assert segno.make(NUMBER, error="m").mode == "numeric"  # the compact mode: digits only


def test_another_number_draws_another_code():
    other = NUMBER[:-1] + "4"
    assert qr_lines(other) != qr_lines(NUMBER)


@pytest.mark.parametrize("border", [1, 2, 4])
def test_the_quiet_zone_is_light_on_every_side(border):
    drawn = modules(qr_lines(NUMBER, border=border))
    size = 25 + 2 * border
    for row in drawn[:border] + drawn[size - border :]:
        assert not any(row)
    for row in drawn[border : size - border]:
        assert not any(row[:border]) and not any(row[size - border :])
        assert len(row) == size
    # The finder pattern's corner is the first dark module inside the margin.
    assert drawn[border][border] and drawn[border][size - border - 1]


def test_the_same_text_always_draws_the_same_lines():
    assert qr_lines(NUMBER) == qr_lines(NUMBER)
    assert set("".join(qr_lines(NUMBER))) <= set(" ▀▄█")


def test_inverted_draws_the_light_modules():
    drawn, inverted = modules(qr_lines(NUMBER)), modules(qr_lines(NUMBER, invert=True))
    assert inverted == [[not m for m in row] for row in drawn]


def test_text_too_long_for_any_qr_code_is_a_value_error():
    with pytest.raises(ValueError, match="too long"):
        qr_lines("9" * 8000)
