"""Files in the TUI, driven by Textual's pilot with a fake core: what the screen shows, what is submitted."""

import html
import re

import pytest

from p2ptui.core_thread import AcceptFile, CancelFile, DeclineFile, OpenPeer, SendFile, SendText
from p2ptui.net import PeerStatus, events
from p2ptui.widgets import ConversationLog, InputHint, PeerList

from .fakecore import FakeCore, make_app, notified
from .test_keys_in_order import burst

pytestmark = pytest.mark.asyncio

ID = "ab" * 16
OTHER = "cd" * 16


def log_text(app) -> str:
    return app.query_one(ConversationLog).visible_text().replace("\u00a0", " ")


def folded(app) -> str:
    """The log's words with its wrapping undone."""
    return " ".join(log_text(app).split())


def hint(app) -> str:
    return app.query_one(InputHint).said


def file_commands(core) -> list:
    return [c for c in core.commands if isinstance(c, (SendFile, AcceptFile, DeclineFile, CancelFile))]


async def until(pilot, condition, rounds: int = 200) -> None:
    """Let the app run until condition holds (keys in a burst take a few rounds each)."""
    for _ in range(rounds):
        if condition() and not pilot.app.keys_waiting:
            break
        await pilot.pause(0.01)
    await pilot.pause()


async def test_an_offer_is_one_line_that_enter_accepts_and_progress_updates_in_place():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "report.pdf", 3_200_000))
        await pilot.pause()
        assert "<carol> sends report.pdf (3.2 MB)" in log_text(app)
        assert "/accept or Enter, /decline" in log_text(app)
        await pilot.press("enter")
        assert file_commands(core) == [AcceptFile("carol", ID)]
        core.emit(events.FileProgress("carol", ID, 1_984_000, 3_200_000, 4_100_000.0, False))
        await pilot.pause()
        text = log_text(app)
        assert "▏ 62%  4.1 MB/s  0:01 left" in text and "/accept" not in text
        assert text.count("report.pdf") == 1  # the same line, not a new one
        core.emit(events.FileReceived("carol", ID, "/tmp/dl/report.pdf", 3_200_000, "ab12cd34" * 8))
        await pilot.pause()
        text = " ".join(log_text(app).split())
        assert "received → /tmp/dl/report.pdf (sha256 ab12cd34ab12…)" in text and "62%" not in text
        await pilot.press("enter")  # nothing waits any more: Enter does nothing
        assert file_commands(core) == [AcceptFile("carol", ID)]


async def test_enter_accepts_only_the_newest_offer_while_it_waits_and_text_is_still_sent():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "a.txt", 10), events.FileOffered("carol", OTHER, "b.txt", 10))
        await pilot.pause()
        await pilot.press(*"hi", "enter")  # text in the input: a message, not an answer
        assert [c.text for c in core.commands if isinstance(c, SendText)] == ["hi"]
        assert file_commands(core) == []
        await pilot.press(*"/decline", "enter")  # the newest
        assert file_commands(core) == [DeclineFile("carol", OTHER)]
        assert "declined" in log_text(app)
        await pilot.press("enter")  # the newest offer is answered: the older one is not taken by Enter
        assert file_commands(core) == [DeclineFile("carol", OTHER)]
        await pilot.press("alt+1", "enter")  # nor in another conversation
        assert file_commands(core) == [DeclineFile("carol", OTHER)]


async def test_accept_decline_and_cancel_name_a_transfer_by_a_prefix_of_its_name_or_id():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.FileOffered("carol", ID, "report.pdf", 10),
            events.FileOffered("carol", OTHER, "notes.txt", 10),
            events.FileOffered("carol", "ef" * 16, "mine.iso", 10, outgoing=True),
        )
        await pilot.pause()
        await pilot.press(*"/accept rep", "enter")
        await pilot.press(*"/cancel ef", "enter")
        await pilot.press(*"/decline zz", "enter")
        assert file_commands(core) == [AcceptFile("carol", ID), CancelFile("carol", "ef" * 16)]
        assert "no such transfer with carol: zz" in hint(app)
        assert app.message_input.text == "/decline zz"  # back in the input, to be put right
        assert "cancelled" in log_text(app)


async def test_send_completes_a_path_with_tab_and_submits_it_in_one_burst(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"x" * 100)
    (tmp_path / "photos").mkdir()
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, f"/se\t{tmp_path}/rep\t\r")
        await until(pilot, lambda: file_commands(core))
        assert file_commands(core) == [SendFile("carol", str(tmp_path / "report.pdf"))]
        assert app.message_input.text == ""
        assert hint(app) == "offering report.pdf to carol…"  # its line comes once the core has hashed it


async def test_several_matches_complete_their_common_prefix_and_show_the_choices(tmp_path):
    for name in ("report.pdf", "report.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "reports").mkdir()
    app = make_app(FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*f"/send {tmp_path}/r", "tab")
        assert app.message_input.text == f"/send {tmp_path}/report"
        assert hint(app) == "report.pdf  report.txt  reports/"
        await pilot.press(*"s", "tab")
        assert app.message_input.text == f"/send {tmp_path}/reports/"


async def test_a_missing_file_or_a_directory_is_said_at_once_under_the_input(tmp_path):
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*f"/send {tmp_path}/nope.txt", "enter")
        assert hint(app) == f"no such file: {tmp_path}/nope.txt"
        assert app.message_input.text == f"/send {tmp_path}/nope.txt"
        app.message_input.clear()
        await pilot.press(*f"/send {tmp_path}", "enter")
        assert hint(app) == f"{tmp_path} is a directory: /send takes a file"
        assert file_commands(core) == []
        await pilot.pause()
        shown, typed_in = app.query_one(InputHint).region, app.message_input.region
        assert shown.height >= 1 and shown.y == typed_in.bottom  # on screen, under the input


async def test_an_offer_the_core_declined_by_itself_is_said():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileFailed("carol", ID, "huge.iso declined: too large: 9 GB, over the limit", False))
        await pilot.pause()
        assert "-- huge.iso declined: too large" in log_text(app)
        assert any("huge.iso declined" in text for text in notified(app))


async def test_accept_takes_up_a_failed_transfer_and_cancel_stops_it():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.Transfer("carol", ID, "big.iso", 100, False, "failed", 40, reason="the disk is full"))
        await pilot.pause()
        assert "failed: the disk is full" in log_text(app)
        await pilot.press("enter")  # Enter takes only an offer
        await pilot.press(*"/accept", "enter")
        assert file_commands(core) == [AcceptFile("carol", ID)]
        await pilot.press(*"/cancel", "enter")
        assert file_commands(core) == [AcceptFile("carol", ID), CancelFile("carol", ID)]


async def test_a_file_offered_elsewhere_toasts_and_counts_as_unread():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("alice", ID, "holiday.jpg", 2_500_000))
        await pilot.pause()
        assert "offers holiday.jpg (2.5 MB)" in notified(app)
        assert "alice (1)" in str(app.query_one(PeerList).render())
        await pilot.press("enter")  # the offer is not in the conversation shown
        assert file_commands(core) == []


async def test_a_transfer_whose_peer_goes_away_shows_it_waits_not_a_stale_rate():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.FileOffered("carol", ID, "big.bin", 20_000_000, outgoing=True),
            events.FileProgress("carol", ID, 6_000_000, 20_000_000, 5_600_000.0, True),
        )
        await pilot.pause()
        assert "5.6 MB/s" in log_text(app)
        core.emit(events.PeerChanged("carol", PeerStatus.OFFLINE, reason="lost the path"))
        await pilot.pause()
        assert "5.6 MB/s" not in log_text(app) and "waiting for carol to connect, 30% done" in folded(app)
        # The core's last progress, told after the path went, does not bring back a rate.
        core.emit(events.FileProgress("carol", ID, 7_000_000, 20_000_000, 5_600_000.0, True))
        await pilot.pause()
        assert "5.6 MB/s" not in log_text(app) and "waiting for carol to connect, 35% done" in folded(app)
        core.emit(
            events.PeerChanged("carol", PeerStatus.CONNECTED, path="direct", network="local", remote=("127.0.0.1", 9)),
            events.FileProgress("carol", ID, 8_000_000, 20_000_000, 4_000_000.0, True),
        )
        await pilot.pause()
        assert "40%  4.0 MB/s" in log_text(app) and "waiting" not in log_text(app)


async def test_both_sides_see_the_end_of_our_own_transfer():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "notes.txt", 12_000, outgoing=True))
        await pilot.pause()
        assert "…  <dana> sends notes.txt (12 kB)" in log_text(app)
        assert "waiting for carol to accept (/cancel)" in folded(app)
        core.emit(events.FileProgress("carol", ID, 12_000, 12_000, 50_000.0, True))
        await pilot.pause()
        assert "100%  verifying" in log_text(app)
        core.emit(events.FileSent("carol", ID))
        await pilot.pause()
        assert "✓  <dana> sends notes.txt" in log_text(app) and "sent, verified by carol" in folded(app)
        core.emit(events.FileOffered("carol", OTHER, "big.iso", 10, outgoing=True))
        core.emit(events.FileFailed("carol", OTHER, "declined by carol", True))
        await pilot.pause()
        assert "✗  <dana> sends big.iso" in log_text(app) and "declined by carol" in folded(app)


async def test_after_a_restart_the_offers_and_transfers_show_again_without_counting_as_news():
    core = FakeCore()
    app = make_app(core, peers=("alice", "carol"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.History("alice", ()),
            events.Transfer("alice", ID, "big.iso", 20_000_000, False, "waiting", 5_000_000, path="/tmp/big.iso"),
            events.Transfer("alice", OTHER, "new.txt", 10, False, "offered"),
        )
        await pilot.pause()
        assert "alice (1)" in str(app.query_one(PeerList).render())  # only the waiting offer is news
        await pilot.press("alt+1")
        text = folded(app)
        assert "waiting for alice to connect, 25% done" in text and "new.txt" in text
        core.emit(events.FileProgress("alice", ID, 10_000_000, 20_000_000, 1e6, False))
        await pilot.pause()
        assert "50%" in log_text(app) and log_text(app).count("big.iso") == 1


async def test_hostile_names_never_break_a_line_nor_reach_the_terminal():
    core = FakeCore()
    app = make_app(core)
    hostile = "a\x1b[2J\x1b]0;pwned\x07\nb\r\u202ec.txt"
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, hostile, 10))
        core.emit(events.FileFailed("carol", ID, "bad\x1b[1;1Hreason\nhere", False))
        await pilot.pause()
        text = log_text(app)
        assert "\x1b" not in text and "\u202e" not in text and "\r" not in text and "\x07" not in text
        assert "<carol> sends a␛␛␤b␍⟨U+202E⟩c.txt (10 B)" in text
        assert "failed: bad␛reason␤here" in text
        assert "\x1b" not in app.export_screenshot()


async def test_details_list_the_transfers():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.Details("carol", PeerStatus.CONNECTED, transfers=(
            events.Transfer("carol", ID, "report.pdf", 3_200_000, False, "receiving", 1_600_000, 410_000.0),
        )))
        await pilot.pause()
        from textual.widgets import Label, Static

        shown = [str(widget.render()) for widget in app.screen.query(Static)]
        assert isinstance(app.screen.query_one(".title", Label), Label) and "Files" in shown
        assert shown[shown.index("↓ report.pdf") + 1] == "receiving 50% of 3.2 MB, 410 kB/s"


async def test_the_bar_fits_a_60_column_terminal_and_follows_a_resize():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(60, 20)) as pilot:
        core.emit(events.FileOffered("carol", ID, "report.pdf", 3_200_000))
        core.emit(events.FileProgress("carol", ID, 1_984_000, 3_200_000, 410_000.0, False))
        await pilot.pause()
        log = app.query_one(ConversationLog)
        rows = [row for row in log_text(app).splitlines() if "62%" in row]
        assert len(rows) == 1 and "▕" in rows[0] and "▏" in rows[0]
        assert all(len(row.rstrip()) <= log.scrollable_content_region.width for row in log_text(app).splitlines())
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        (wide,) = [row for row in log_text(app).splitlines() if "62%" in row]
        assert "410 kB/s  0:03 left" in wide


async def test_the_core_is_asked_for_a_conversations_transfers_on_open():
    core = FakeCore()
    app = make_app(core, peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/open erin", "enter")
        assert OpenPeer("erin") in core.commands  # the core answers with history, then the transfers


async def test_tab_completes_the_name_of_a_transfer_and_the_palette_starts_a_send():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "report.pdf", 10), events.FileOffered("alice", OTHER, "rx.txt", 10))
        await pilot.pause()
        await pilot.press(*"/accept r", "tab")
        assert app.message_input.text == "/accept report.pdf "  # carol's only: the conversation shown
        app.message_input.clear()
        send = next(command for command in app.get_system_commands(app.screen) if command.title == "Send a file…")
        send.callback()
        assert app.message_input.text == "/send " and "Tab completes the path" in hint(app)


async def test_tab_completes_a_transfers_name_with_spaces_in_it():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "name with spaces.txt", 10))
        await pilot.pause()
        await pilot.press(*"/decline n", "tab")
        assert app.message_input.text == "/decline name with spaces.txt "
        app.message_input.clear()
        await pilot.press(*"/decline name w", "tab", "enter")
        assert file_commands(core) == [DeclineFile("carol", ID)]


async def test_a_line_above_the_view_that_grows_does_not_move_what_is_read():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "report.pdf", 10))
        core.emit(*(events.MessageReceived("carol", f"{n:016x}", f"message {n}") for n in range(60)))
        await pilot.pause()
        log = app.query_one(ConversationLog)
        await pilot.press("home", "pagedown")  # the offer was in view (measured), and is above it now
        await pilot.pause()
        before = log_text(app).splitlines()[0]
        assert "report.pdf" not in log_text(app) and before.strip()
        core.emit(events.FileReceived("carol", ID, "/a/long/path/" + "deep/" * 12 + "report.pdf", 10, "ab" * 32))
        await pilot.pause()
        assert log_text(app).splitlines()[0] == before  # the rows below it moved down with it
        await pilot.press("end")
        await pilot.pause()
        assert "message 59" in log_text(app) and log.scroll_offset.y == log.max_scroll_y


def on_screen(app) -> str:
    """What the terminal was last sent, as text (the log's own visible_text would draw it afresh)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\u00a0", " ")


async def test_progress_that_keeps_the_line_one_row_high_is_redrawn_on_the_screen():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.FileOffered("carol", ID, "report.pdf", 3_200_000))
        await pilot.pause()
        await pilot.press("enter")
        core.emit(events.FileProgress("carol", ID, 320_000, 3_200_000, 4_100_000.0, False))
        await pilot.pause()
        assert "10%" in on_screen(app)
        core.emit(events.FileProgress("carol", ID, 1_984_000, 3_200_000, 4_100_000.0, False))
        await pilot.pause()
        screen = on_screen(app)
        assert "62%" in screen and "10%" not in screen
