"""The pure parts of files in the TUI: sizes, the progress row, names, which transfer a command means, paths."""

import os

import pytest

from p2ptui.net import events
from p2ptui.path_complete import PathCompletion, check_sendable, complete_path, fit_choices
from p2ptui.rows import RowIndex, cells
from p2ptui.transfers import (
    FINISHED,
    MAX_BAR,
    UNDER_WAY,
    Transfers,
    human_size,
    progress_text,
    safe_name,
    time_left,
    transfer_rows,
)

ID = "ab" * 16
OTHER = "cd" * 16


@pytest.mark.parametrize(
    "size, words",
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (12_000, "12 kB"), (3_200_000, "3.2 MB"),
     (20_000_000, "20 MB"), (999_600, "1.0 MB"), (4 * 2**30, "4.3 GB"), (-5, "0 B")],
)
def test_human_size(size, words):
    assert human_size(size) == words


@pytest.mark.parametrize(
    "seconds, words", [(0, "0:00"), (0.2, "0:01"), (12, "0:12"), (725, "12:05"), (3723, "1:02:03")]
)
def test_time_left(seconds, words):
    assert time_left(seconds) == words


def test_the_progress_row_is_the_briefs_at_a_comfortable_width():
    row = progress_text(620, 1000, 4_100_000, 48)
    assert row == "▕" + "█" * 12 + "░" * 8 + "▏ 62%  4.1 MB/s  0:01 left" and cells(row) <= 48


@pytest.mark.parametrize("width", range(1, 220))
def test_the_progress_row_never_outgrows_its_width(width):
    row = progress_text(1_984_000, 3_200_000, 410_000.0, width)
    assert cells(row) <= width
    assert "62%" in row or width < 3  # the percent always stays
    if width >= 60:
        assert "410 kB/s" in row and "0:03 left" in row
    if width >= 14:
        assert row.startswith("▕")


def test_the_bar_is_capped_on_a_wide_terminal_and_stays_as_long_as_the_digits_grow():
    wide = progress_text(50, 100, 1.0, 200)
    assert wide.index("▏") - 1 == MAX_BAR
    assert progress_text(5, 100, 1.0, 60).index("▏") == progress_text(99, 100, 1.0, 60).index("▏")
    assert progress_text(100, 100, 0, 40).endswith("100%  verifying")


@pytest.mark.parametrize(
    "hostile",
    ["evil\x1b[2J\x1b]0;pwned\x07.txt", "a\nb\rc.txt", "\u202etxt.exe", "x" * 5000 + ".pdf", "日本語" * 100 + ".png"],
)
def test_a_hostile_name_is_one_safe_row(hostile):
    shown = safe_name(hostile)
    assert cells(shown) <= 80
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\u202e" not in shown and "\x1b" not in shown
    assert shown.endswith(hostile[-4:]) or not hostile[-4:].isascii() or hostile.startswith("\u202e")


def offer(peer="alice", tid=ID, name="report.pdf", size=3_200_000, outgoing=False):
    return events.FileOffered(peer, tid, name, size, outgoing)


def test_an_offer_shows_who_what_and_how_to_answer():
    transfers = Transfers()
    view, new = transfers.offered(offer())
    assert new and transfers.offered(offer()) == (view, False)  # the same offer twice is one transfer
    assert view.text(60) == "sends report.pdf (3.2\u00a0MB)\n/accept or Enter, /decline"
    ours, _ = transfers.offered(offer(tid=OTHER, outgoing=True))
    assert "waiting for alice to accept" in ours.text(60)


def test_each_state_in_words():
    transfers = Transfers()
    view, _ = transfers.offered(offer())
    transfers.progressed(events.FileProgress("alice", ID, 1_600_000, 3_200_000, 400_000.0, False))
    assert view.state == "receiving" and "50%  400 kB/s  0:04 left" in view.status(60)
    saved = os.path.expanduser("~/Downloads/report.pdf")
    transfers.received(events.FileReceived("alice", ID, saved, 3_200_000, "ab12" * 16))
    assert view.status() == "received → ~/Downloads/report.pdf (sha256\u00a0ab12ab12ab12…)"
    sent, _ = transfers.offered(offer(tid=OTHER, outgoing=True))
    transfers.sent(events.FileSent("alice", OTHER))
    assert sent.status() == "sent, verified by alice"


@pytest.mark.parametrize(
    "reason, state, words",
    [("declined", "declined", "declined by alice"),
     ("declined: too large", "declined", "declined by alice: too large"),
     ("cancelled", "cancelled", "cancelled"),
     ("cancelled by the peer: changed my mind", "cancelled", "cancelled by alice: changed my mind"),
     ("the disk is full", "failed", "failed: the disk is full"), ("bad\x1b[2Jhash", "failed", "failed: bad␛hash")],
)
def test_a_failure_says_why(reason, state, words):
    transfers = Transfers()
    view, _ = transfers.offered(offer(outgoing=True))
    transfers.failed(events.FileFailed("alice", ID, reason, True))
    assert (view.state, view.status()) == (state, words)


def test_what_the_user_answered_stays_whatever_the_core_says_next():
    transfers = Transfers()
    view, _ = transfers.offered(offer())
    transfers.answered(view, "declined")
    assert transfers.failed(events.FileFailed("alice", ID, "timed out", False)) is None
    assert transfers.progressed(events.FileProgress("alice", ID, 5, 10, 1.0, False)) is None
    assert view.state == "declined"


def test_a_transfer_that_failed_resumably_goes_on():
    transfers = Transfers()
    view, _ = transfers.offered(offer())
    transfers.failed(events.FileFailed("alice", ID, "the peer stopped: the disk is full", False))
    assert view.status() == "failed: the peer stopped: the disk is full"
    assert transfers.progressed(events.FileProgress("alice", ID, 5, 10, 1.0, False)) is view
    assert view.state == "receiving"


def test_what_was_moving_waits_while_the_peer_is_away():
    transfers = Transfers()
    view, _ = transfers.offered(offer(size=100))
    offered, _ = transfers.offered(offer(tid=OTHER))
    transfers.progressed(events.FileProgress("alice", ID, 30, 100, 5e6, False))
    assert transfers.peer_away("alice") == [view] and transfers.peer_away("bob") == []
    assert view.status() == "waiting for alice to connect, 30% done" and offered.state == "offered"
    # What the core had on its way when the path went: counted, but the transfer still waits.
    transfers.progressed(events.FileProgress("alice", ID, 35, 100, 5e6, False))
    assert view.status() == "waiting for alice to connect, 35% done"
    transfers.peer_back("alice")
    transfers.progressed(events.FileProgress("alice", ID, 40, 100, 1e6, False))
    assert view.state == "receiving"


def test_events_about_unknown_transfers_are_ignored():
    transfers = Transfers()
    assert transfers.progressed(events.FileProgress("alice", ID, 5, 10, 1.0, False)) is None
    assert transfers.received(events.FileReceived("alice", ID, "/x", 10, "00")) is None
    assert transfers.sent(events.FileSent("alice", ID)) is None
    assert transfers.failed(events.FileFailed("alice", ID, "x", True)) is None


def test_enter_accepts_only_the_newest_offer_and_only_while_it_waits():
    transfers = Transfers()
    assert transfers.offer_waiting("alice") is None
    first, _ = transfers.offered(offer())
    assert transfers.offer_waiting("alice") is first
    second, _ = transfers.offered(offer(tid=OTHER, name="b.txt"))
    transfers.answered(second, "declined")
    assert transfers.offer_waiting("alice") is None  # the newest was answered: an older one is not taken
    transfers.offered(offer(tid="ef" * 16, outgoing=True))  # our own offers do not count
    assert transfers.offer_waiting("alice") is None
    assert transfers.offer_waiting("bob") is None


def test_a_command_names_a_transfer_by_a_prefix_of_its_id_or_name():
    transfers = Transfers()
    a, _ = transfers.offered(offer(name="report.pdf"))
    b, _ = transfers.offered(offer(tid=OTHER, name="report.txt"))
    offered = frozenset({"offered"})
    assert transfers.find("alice", "", offered) is b  # the newest
    assert transfers.find("alice", "ab", offered) is a
    assert transfers.find("alice", "CD", offered) is b
    assert transfers.find("alice", "report.pdf", offered) is a
    ambiguous = transfers.find("alice", "report", offered)
    assert isinstance(ambiguous, str) and "2 transfers match" in ambiguous
    assert "no such transfer" in transfers.find("alice", "zz", offered)
    assert "no such transfer" in transfers.find("bob", "", offered)
    transfers.answered(b, "cancelled")
    assert transfers.find("alice", "report", UNDER_WAY) is a  # only those still usable count


def test_a_transfer_as_it_stands_after_a_restart():
    transfers = Transfers()
    view, new = transfers.stands(events.Transfer("alice", ID, "big.iso", 20_000_000, False, "waiting", 5_000_000))
    assert new and view.status() == "waiting for alice to connect, 25% done"
    again = events.Transfer("alice", ID, "big.iso", 20_000_000, False, "receiving", 6_000_000)
    assert transfers.stands(again)[1] is False
    assert view.state == "receiving" and view.bytes == 6_000_000


def test_the_details_rows():
    rows = transfer_rows((
        events.Transfer("alice", ID, "report.pdf", 3_200_000, False, "receiving", 1_600_000, 410_000.0),
        events.Transfer("alice", OTHER, "x" * 100, 12_000, True, "offered"),
    ))
    assert rows[0] == ("↓ report.pdf", "receiving 50% of 3.2 MB, 410 kB/s")
    assert rows[1][0].startswith("↑ x") and cells(rows[1][0]) <= 26
    assert rows[1][1] == "offered, 12 kB: waiting for alice to accept"


def test_states_are_either_under_way_or_finished():
    assert not UNDER_WAY & FINISHED


# --- Paths ---------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    for name in ("report.pdf", "report.txt", "notes.md", ".hidden"):
        (tmp_path / name).write_text("x")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "q1.csv").write_text("x")
    (tmp_path / "photos").mkdir()
    return tmp_path


def test_one_match_completes_whole_and_a_directory_with_its_slash(tree):
    assert complete_path(f"{tree}/no") == PathCompletion(f"{tree}/notes.md")
    assert complete_path(f"{tree}/ph") == PathCompletion(f"{tree}/photos/")
    assert complete_path(f"{tree}/reports/") == PathCompletion(f"{tree}/reports/q1.csv")


def test_several_matches_complete_their_common_prefix_and_are_listed(tree):
    assert complete_path(f"{tree}/re") == PathCompletion(
        f"{tree}/report", ("report.pdf", "report.txt", "reports/")
    )


def test_a_name_that_would_act_on_the_terminal_is_never_put_in_the_input(tmp_path):
    # The input draws what it holds as it is: an escape or a bidi override there would reach
    # the terminal. Completion stops before it; the name is listed (shown safely).
    hostile = "a\x1b[31mred\u202etxt.exe"
    (tmp_path / hostile).write_text("x")
    assert complete_path(f"{tmp_path}/a") == PathCompletion(f"{tmp_path}/a", (hostile,))
    (tmp_path / "a\x1b]0;title\x07").write_text("x")
    (tmp_path / "ab\u2066.txt").write_text("x")
    found = complete_path(f"{tmp_path}/")
    assert found is not None and found.text == f"{tmp_path}/a" and len(found.choices) == 3
    (tmp_path / "emoji \u2764\ufe0f.txt").write_text("x")  # only drawn a cell off, not acting: kept
    assert complete_path(f"{tmp_path}/e") == PathCompletion(f"{tmp_path}/emoji \u2764\ufe0f.txt")


def test_hidden_files_only_after_a_dot(tree):
    listed = complete_path(f"{tree}/")
    assert listed is not None and ".hidden" not in listed.choices and "notes.md" in listed.choices
    assert complete_path(f"{tree}/.") == PathCompletion(f"{tree}/.hidden")


def test_relative_paths_and_the_home_directory(tree, monkeypatch):
    assert complete_path("rep", cwd=str(tree)).text == "report"
    monkeypatch.setenv("HOME", str(tree))
    assert complete_path("~") == PathCompletion("~/")
    assert complete_path("~/pho") == PathCompletion("~/photos/")  # the ~ stays as typed


def test_nothing_to_complete(tree):
    assert complete_path(f"{tree}/zzz") is None
    assert complete_path(f"{tree}/report.pdf/x") is None  # not a directory
    assert complete_path("/no/such/dir/x") is None


def test_what_cannot_be_sent_is_said_before_any_round_trip(tree, monkeypatch):
    assert check_sendable(f"{tree}/report.pdf") == (f"{tree}/report.pdf", "")
    assert check_sendable("notes.md", cwd=str(tree)) == (f"{tree}/notes.md", "")
    monkeypatch.setenv("HOME", str(tree))
    assert check_sendable("~/reports/../notes.md") == (f"{tree}/notes.md", "")
    assert check_sendable("~/photos")[1] == "~/photos is a directory: /send takes a file"
    assert check_sendable("~/nope.txt")[1] == "no such file: ~/nope.txt"


def test_the_choices_fit_one_row():
    choices = tuple(f"file{n:03}.txt" for n in range(200))
    for width in (24, 40, 57, 200):
        row = fit_choices(choices, width)
        assert cells(row) <= width and row.endswith("more") and row.startswith("file000.txt")
    assert fit_choices(choices, 20) == "200 matches"
    assert fit_choices(("a", "b"), 40) == "a  b"
    assert fit_choices(("a" * 50, "b"), 20) == "2 matches"


# --- A line that changes height in place --------------------------------------------------------


def test_the_row_index_follows_a_line_whose_height_changes():
    index = RowIndex(5)
    index.record({0: 1, 1: 2, 2: 1, 3: 3, 4: 1})
    assert index.rows == 8
    assert index.update(1, 4) == 2 and index.rows == 10 and index.start(3) == 6
    assert index.update(1, 1) == -3 and index.rows == 7 and index.start(3) == 3
    assert index.update(2, 2) == 1 and index.locate(3) == (2, 1) and index.start(4) == 7
    assert index.update(3, 3) == 0
    fresh = RowIndex(2)
    assert fresh.update(0, 5) == 0 and fresh.rows == 2  # not measured: measured in view, later
