"""ping's and nat-check's words, without a process."""

from p2ptui.diagnostics import what_was_dropped


def test_the_ping_summary_lists_only_counters_that_counted():
    # Regression: "dropped: 0 duplicate message".
    assert what_was_dropped({"replayed": 2, "duplicate message": 0, "failed authentication": 1}) == {
        "failed authentication": 1, "replayed": 2,
    }
    assert what_was_dropped({"duplicate message": 0}) == {}
