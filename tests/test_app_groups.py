"""Groups in the TUI, driven by Textual's pilot against the fake core."""

from datetime import datetime

import pytest
from textual.widgets import Static

from p2ptui.core_thread import (
    CreateGroup,
    IgnoreInvite,
    Invite,
    JoinGroup,
    Kick,
    LeaveGroup,
    MakeAdmin,
    OpenPeer,
    SendGroupText,
    ShowGroup,
)
from p2ptui.net import PeerStatus, events
from p2ptui.net.store import StoredMessage
from p2ptui.widgets import ConversationLog, MessageInput, PeerList

from .fakecore import FakeCore, connected, make_app, notified, told

pytestmark = pytest.mark.asyncio


def log_text(app) -> str:
    """The log's rows, with its wrapping folded."""
    return " ".join(app.query_one(ConversationLog).visible_text().split())


def sidebar_text(app) -> str:
    return str(app.query_one(PeerList).render())


def member(name, admin=False, status=PeerStatus.CONNECTED):
    return events.Member(name, f"{name}-fp", admin, status)


def team(*members, admin=True, rejected=()):
    return events.GroupInfo("team", "ab" * 16, tuple(members), admin, rejected)


def said(author, n, text, lamport):
    return events.MessageReceived(author, f"{n:016x}", text, group="team", order=(lamport, f"{author}-fp"))


async def in_team(app, core, pilot, *, admin=True):
    """dana creates #team with alice and bob in it."""
    await pilot.press(*"/group team", "enter")
    core.emit(
        events.GroupJoined("team", ("dana",)),
        events.GroupChanged(team(member("dana", admin=admin), member("alice", admin=not admin), member("bob"),
                                 admin=admin)),
    )
    await pilot.pause()


async def test_group_creates_a_group_listed_apart_from_the_peers_with_its_member_count():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/group team", "enter")
        assert CreateGroup("team") in core.commands
        core.emit(events.GroupJoined("team", ("dana",)))
        await pilot.pause()
        assert app.selected == "#team"
        assert OpenPeer("#team") in core.commands  # its history
        assert "you created #team" in log_text(app)
        rows = sidebar_text(app).splitlines()
        assert rows.index("Groups") > max(i for i, row in enumerate(rows) if "bob" in row)
        assert "▶3 #team 1" in sidebar_text(app)  # Alt+3: after the peers
        await pilot.press("alt+1", "alt+3")
        assert app.selected == "#team"
        await pilot.press(*"/group team", "enter")
        assert "already" in told(app) and core.commands.count(CreateGroup("team")) == 1
        await pilot.press(*"/group bad name!", "enter")
        assert "invalid group name" in told(app)
        await pilot.press(*"/open #nothing", "enter")
        assert "no group #nothing: /group nothing creates it" in told(app) and "#nothing" not in app.conversations


async def test_messages_show_their_authors_in_the_groups_order_and_a_late_one_is_inserted():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        core.emit(said("alice", 1, "first", 1), said("bob", 3, "third", 5))
        await pilot.pause()
        core.emit(said("bob", 2, "second, late", 3))  # arrives last, belongs between
        await pilot.pause()
        text = log_text(app)
        assert "<alice> first" in text and "<bob> third" in text
        assert text.index("first") < text.index("second, late") < text.index("third")
        # Ours shows at once (no order yet), then moves where the core placed it.
        await pilot.press(*"mine", "enter")
        (send,) = [c for c in core.commands if isinstance(c, SendGroupText)]
        assert (send.group, send.text) == ("team", "mine")
        assert log_text(app).endswith("<you> mine")
        core.emit(events.GroupMessageSent("team", send.id, (2, "dana-fp")))
        await pilot.pause()
        text = log_text(app)
        assert text.index("first") < text.index("mine") < text.index("second, late")
        core.emit(events.MessageDelivered("#team", send.id))
        await pilot.pause()
        assert "✓ <you> mine" in log_text(app)


async def test_a_group_message_elsewhere_is_unread_toasted_and_alt_a_goes_there():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press("alt+1")
        core.emit(said("bob", 1, "anyone up?", 1), said("alice", 2, "me", 2))
        await pilot.pause()
        assert "#team 3 (2)" in sidebar_text(app)
        assert any("anyone up?" in n for n in notified(app))
        assert any(n.title == "bob in #team" for n in app._notifications)
        await pilot.press("alt+a")
        assert app.selected == "#team" and "(2)" not in sidebar_text(app)


async def test_an_invitation_is_listed_told_and_joined_with_join():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(connected("alice", 51000),
                  events.GroupInvited("book", "cd" * 16, "alice", ("alice", "bob", "dana")))
        await pilot.pause()
        assert "#book invited" in sidebar_text(app)
        assert "alice invites you to #book (with bob): /join book" in log_text(app)  # in alice's conversation
        assert any("/join book" in n for n in notified(app))
        await pilot.press("alt+2")
        assert app.selected == "#book"
        await pilot.press(*"hello?", "enter")
        assert "/join first" in told(app) and not any(isinstance(c, SendGroupText) for c in core.commands)
        assert app.query_one("#input", MessageInput).text == "hello?"  # kept, to send once in
        app.query_one("#input", MessageInput).replace_text("")
        await pilot.press(*"/join", "enter")
        assert JoinGroup("book") in core.commands
        core.emit(events.GroupJoined("book", ("alice", "bob", "dana")))
        await pilot.pause()
        assert "you joined #book: alice, bob" in log_text(app)
        assert "#book 3" in sidebar_text(app) and "invited" not in sidebar_text(app)


async def test_join_names_an_invitation_not_listed_and_the_core_decides():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"/join book", "enter")  # told before a restart: the sidebar does not know it
        assert JoinGroup("book") in core.commands
        core.emit(events.GroupJoined("book", ("alice", "dana")))
        await pilot.pause()
        assert app.selected == "#book"


async def test_an_ignored_invitation_goes_from_the_list():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.GroupInvited("spam", "cd" * 16, "mallory", ("mallory",)))
        await pilot.pause()
        await pilot.press(*"/ignore spam", "enter")
        assert IgnoreInvite("spam") in core.commands
        assert "#spam" not in sidebar_text(app) and "#spam" not in app.closed


async def test_admin_commands_are_refused_at_once_to_a_member_who_is_not_an_admin():
    core = FakeCore()
    app = make_app(core, peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot, admin=False)
        for line in ("/kick bob", "/admin bob", "/invite erin"):
            await pilot.press(*line, "enter")
            assert "only an admin of #team" in told(app) and "ask alice" in told(app)
        assert not any(isinstance(c, Kick | MakeAdmin | Invite) for c in core.commands)


async def test_an_admin_invites_kicks_and_makes_admins():
    core = FakeCore()
    app = make_app(core, peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press(*"/invite erin", "enter")
        await pilot.press(*"/kick bob", "enter")
        await pilot.press(*"/admin alice", "enter")
        await pilot.press(*"/kick zed", "enter")  # not a member: said at once
        assert "zed is not in #team" in told(app)
        assert [c for c in core.commands if isinstance(c, Invite | Kick | MakeAdmin)] == [
            Invite("team", "erin"), Kick("team", "bob"), MakeAdmin("team", "alice")]
        core.emit(events.GroupChanged(team(member("dana", admin=True), member("alice", admin=True), member("bob"))))
        await pilot.pause()
        assert "alice is an admin now" in log_text(app)
        core.emit(events.MemberLeft("team", "bob", kicked=True), events.MemberJoined("team", "erin"))
        await pilot.pause()
        assert "bob was removed" in log_text(app) and "erin was added" in log_text(app)
        await pilot.press(*"/leave", "enter")
        assert LeaveGroup("team") in core.commands
        core.emit(events.MemberLeft("team", "dana"))
        await pilot.pause()
        assert "#team left" in sidebar_text(app)
        await pilot.press(*"still here?", "enter")
        assert "you left #team" in told(app)


async def test_a_closed_group_comes_back_for_a_message_not_for_a_members_state():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press(*"/close", "enter")
        core.emit(events.GroupChanged(team(member("dana", admin=True), member("alice", status=PeerStatus.OFFLINE))))
        await pilot.pause()
        assert "#team" in app.closed and "#team" not in sidebar_text(app)
        core.emit(said("alice", 1, "back?", 3))
        await pilot.pause()
        assert "#team 2 (1)" in sidebar_text(app)


async def test_a_group_command_outside_a_group_says_so():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        for line in ("/invite bob", "/kick bob", "/members"):
            await pilot.press(*line, "enter")
            assert "select one first" in told(app)
        assert core.commands == [OpenPeer("alice")]


async def test_members_lists_each_one_with_its_path_state_and_member_only_peers_stay_out_of_the_sidebar():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        core.emit(events.PeerChanged("bob", PeerStatus.OFFLINE, member_only=True))
        await pilot.pause()
        assert "bob" not in sidebar_text(app) and "bob" not in app.conversations
        await pilot.press(*"/members", "enter")
        text = log_text(app)
        assert "members of #team (3):" in text
        assert "● alice: connected" in text and "○ bob: offline" in text
        assert "you (admin)" in text
        core.emit(events.PeerChanged("bob", PeerStatus.KEY_CHANGED, member_only=True, new_fingerprint="2b"))
        await pilot.pause()
        assert "bob" in app.conversations  # a changed key is the user's to accept, member or not


async def test_f3_on_a_group_shows_members_admins_and_what_it_refused():
    core = FakeCore()
    app = make_app(core, peers=())
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press("f3")
        assert ShowGroup("team") in core.commands
        core.emit(team(member("dana", admin=True), member("alice"), member("bob", status=PeerStatus.OFFLINE),
                       rejected=(("signed by a non-admin", 2), ("forged author", 1))))
        await pilot.pause()
        screen = " ".join(str(widget.render()) for widget in app.screen.query(Static))
        for words in ("Group #team", "alice", "connected", "offline", "signed by a non-admin", "forged author"):
            assert words in screen, words
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def test_tab_offers_peer_names_to_invite_and_members_to_kick():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bert"))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press(*"/invite be", "tab")
        assert app.query_one("#input", MessageInput).text == "/invite bert "
        app.query_one("#input", MessageInput).replace_text("")
        await pilot.press(*"/kick b", "tab")
        assert app.query_one("#input", MessageInput).text == "/kick bob "  # a member, not a sidebar peer


async def test_a_groups_history_shows_its_authors_and_ours_as_you():
    core = FakeCore()
    app = make_app(core, peers=())
    at = datetime(2026, 11, 24, 9, 0).timestamp()
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(
            events.GroupChanged(team(member("dana"), member("alice"))),
            events.History("#team", (
                StoredMessage("alice", "01" * 8, False, "from the store", at, True),
                StoredMessage("dana", "02" * 8, True, "mine, stored", at, True),
            )),
        )
        await pilot.pause()
        assert app.selected == "#team"
        text = log_text(app)
        assert "<alice> from the store" in text and "✓ <you> mine, stored" in text
        core.emit(said("alice", 3, "live", 9))
        await pilot.pause()
        assert log_text(app).index("mine, stored") < log_text(app).index("live")


async def test_the_quick_switcher_offers_groups():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press("alt+1", "ctrl+k", *"tea", "enter")
        await pilot.pause()
        assert app.selected == "#team"


async def test_a_group_is_remembered_in_its_place_and_asked_for_after_a_restart(tmp_path):
    from p2ptui.app import P2PApp
    from p2ptui.remembered import load

    from .fakecore import FROZEN

    def app_in(core):
        return P2PApp(core, me="dana", signal="tcp://127.0.0.1:7878", peers=("alice",), clock=lambda: FROZEN,
                      config_dir=tmp_path)

    core = FakeCore()
    app = app_in(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
    assert load(tmp_path) == ["alice", "#team"]
    again = FakeCore()
    app = app_in(again)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert OpenPeer("#team") in again.commands  # its history and members
        assert "#team" in sidebar_text(app)


async def test_the_command_palette_switches_to_groups():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        titles = {command.title: command.help for command in app.get_system_commands(app.screen)}
        assert titles["Switch to #team"] == "3 members, 2 connected, you are an admin"


async def test_a_crowded_sidebar_at_60x20_keeps_the_groups_heading_and_the_selected_group_in_view():
    core = FakeCore()
    peers = tuple(f"peer{n}" for n in range(14))
    app = make_app(core, peers=peers)
    async with app.run_test(size=(60, 20)) as pilot:
        for name in ("team", "book", "climbing"):
            core.emit(events.GroupJoined(name, ("dana", "alice")))
        await pilot.pause()
        await pilot.press("alt+1")
        sidebar = app.query_one(PeerList)
        rows = str(sidebar.render()).splitlines()
        assert len(rows) == sidebar.content_size.height  # every row used, none beyond
        assert rows[-3:] == ["Groups", "   #team 2", "↓ 2 more"]
        for _ in range(len(peers) + 2):
            await pilot.press("ctrl+n")
        assert app.selected == "#climbing"
        rows = [row.rstrip() for row in str(sidebar.render()).splitlines()]
        assert len(rows) == sidebar.content_size.height
        assert rows[1] == "↑ 2 more" and rows[-4:] == ["Groups", "   #team 2", "   #book 2", "▶  #climbing 2"]


async def test_a_member_that_knocked_before_we_joined_leaves_the_sidebar_once_it_is_the_groups_only():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        # bob and erin reach us as strangers (the group's members, before we are one); erin writes.
        core.emit(events.PeerChanged("bob", PeerStatus.CONNECTED, incoming=True),
                  events.PeerChanged("erin", PeerStatus.CONNECTED, incoming=True),
                  events.MessageReceived("erin", "00000000000000e1", "hi, a word just for you"))
        await pilot.pause()
        assert "bob" in sidebar_text(app) and "erin" in sidebar_text(app)
        await in_team(app, core, pilot)
        core.emit(events.PeerChanged("bob", PeerStatus.CONNECTED, member_only=True),
                  events.PeerChanged("erin", PeerStatus.CONNECTED, member_only=True))
        await pilot.pause()
        assert "bob" not in sidebar_text(app) and "bob" not in app.conversations
        assert "erin" in sidebar_text(app)  # it wrote to us: a conversation all the same
        await pilot.press(*"/members", "enter")
        assert "● bob: connected" in log_text(app)


async def test_a_group_command_the_core_refuses_is_an_answer_not_a_lasting_problem():
    core = FakeCore()
    app = make_app(core, peers=("alice",))
    async with app.run_test(size=(80, 24)) as pilot:
        await in_team(app, core, pilot)
        await pilot.press(*"/invite carol", "enter")
        refusal = "carol's key is not known yet: open a conversation with carol first"
        core.emit(events.Error(refusal, peer="#team"))
        await pilot.pause()
        assert refusal in log_text(app)
        (toast,) = [n for n in app._notifications if n.message == refusal]
        assert toast.severity == "warning"  # a complaint: the header shows it for a while only
        assert "carol's key is not known yet" in str(app.query_one("#status").render())
