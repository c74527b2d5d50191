"""Wrapping by cells and the row index, without any UI."""

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from p2ptui.rows import RowIndex, wrap

WORDS = st.lists(st.sampled_from(["a", "chat", "punched", "你好世界", "😀", "x" * 30, " ", "  ", "\n"]), max_size=30)


def test_wrap_breaks_at_spaces_and_keeps_newlines():
    assert wrap("hello there friend", 11) == ["hello there", "friend"]
    assert wrap("one\ntwo three", 20) == ["one", "two three"]
    assert wrap("", 10) == [""]
    assert wrap("a\n\nb", 10) == ["a", "", "b"]


def test_wrap_cuts_a_long_word_by_cells_never_through_a_wide_character():
    assert wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert wrap("see 你好世界", 5) == ["see", "你好", "世界"]
    assert wrap("你好世界", 3) == ["你", "好", "世", "界"]


@given(WORDS.map("".join), st.integers(min_value=2, max_value=40))
def test_wrapped_rows_fit_and_keep_every_character_but_the_breaking_spaces(text, width):
    rows = wrap(text, width)
    assert all(cell_len(row) <= width for row in rows)
    assert "".join(rows).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert len(rows) >= text.count("\n") + 1


def naive_starts(heights):
    starts, row = [], 0
    for height in heights:
        starts.append(row)
        row += height
    return starts


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60), st.data())
def test_the_index_agrees_with_adding_up_the_heights(heights, data):
    index = RowIndex(len(heights))
    known = [1] * len(heights)
    # Measure in a few batches in any order, as scrolling does; check after each.
    order = data.draw(st.permutations(range(len(heights))))
    for batch in (order[: len(order) // 3], order[len(order) // 3 :]):
        index.record({i: heights[i] for i in batch})
        for i in batch:
            known[i] = heights[i]
        starts = naive_starts(known)
        assert index.rows == sum(known)
        assert [index.start(i) for i in range(len(known))] == starts
        for i, start in enumerate(starts):
            for offset in range(known[i]):
                assert index.locate(start + offset) == (i, offset)


def test_unmeasured_messages_count_one_row_and_appends_extend_the_index():
    index = RowIndex(3)
    index.record({1: 4})
    assert index.rows == 6 and index.locate(5) == (2, 0) and not index.is_measured(0)
    index.append()
    assert index.rows == 7 and index.locate(6) == (3, 0) and index.height(3) == 1
    index.record({1: 9})  # measured already: ignored
    assert index.rows == 7
