"""Snapshot tests of groups (pytest-textual-snapshot); update with --snapshot-update.

The scenes are in `GROUP_SCENES`, which tests/test_snapshots.py adds to the
pictures scripts/screenshots.py draws.
"""

from p2ptui.net import PeerStatus, events
from p2ptui.widgets import MessageInput

from .fakecore import FakeCore, connected, make_app


def member(name, admin=False, status=PeerStatus.CONNECTED):
    return events.Member(name, f"{name[0]}1f2 a3b4", admin, status)


TEAM = events.GroupInfo(
    "team",
    "5f0e" * 8,
    (
        member("dana", admin=True),
        member("alice", admin=True),
        member("bob"),
        member("carol", status=PeerStatus.OFFLINE),
        member("erin", status=PeerStatus.CONNECTING),
    ),
    admin=True,
    rejected=(("signed by someone not an admin", 2), ("another author's message, re-signed", 1)),
)


def said(author, n, text, lamport):
    return events.MessageReceived(author, f"{n:016x}", text, group="team", order=(lamport, f"{author}-fp"))


def group_app():
    """#team with several authors (a late message in its place), ours, and an invitation to #book."""
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))

    async def populate(pilot):
        app.query_one("#input", MessageInput).cursor_blink = False
        core.emit(
            events.Ready("dana", "tcp://127.0.0.1:7878", ("203.0.113.9", 40123), nat="cone"),
            connected("alice", 51000),
            events.PeerChanged("bob", PeerStatus.ONLINE),
            events.PeerChanged("erin", PeerStatus.CONNECTING, member_only=True),  # not in the sidebar
        )
        await pilot.pause()
        await pilot.press(*"/group team", "enter")
        core.emit(events.GroupJoined("team", ("dana",)), events.GroupChanged(TEAM))
        await pilot.pause()
        core.emit(
            events.MemberJoined("team", "alice"),
            said("alice", 1, "welcome, everyone: this is where the trip gets planned", 2),
            said("bob", 2, "I can drive on saturday", 4),
            said("carol", 4, "count me in, I'll bring the maps", 9),
        )
        await pilot.pause()
        core.emit(said("alice", 3, "(sent from the train, arrived late) who has a tent?", 6))
        await pilot.pause()
        await pilot.press(*"I have one, for four", "enter")
        sent = core.commands[-1]
        core.emit(events.GroupMessageSent("team", sent.id, (10, "dana-fp")), events.MessageDelivered("#team", sent.id))
        core.emit(events.GroupInvited("book", "b00c" * 8, "alice", ("alice", "bob", "carol")))
        await pilot.pause()
        app.clear_notifications()  # the toasts above; the invitation is in the sidebar and alice's log

    return app, populate


def group_details_app():
    app, populate = group_app()

    async def details(pilot):
        await populate(pilot)
        await pilot.press("f3")
        app.client.emit(TEAM)
        await pilot.pause()

    return app, details


GROUP_SCENES = {
    "group-80x24": (group_app, (80, 24)),
    "group-details-80x24": (group_details_app, (80, 24)),
}


def test_a_group_with_several_authors_and_an_invitation_80x24(snap_compare):
    app, populate = group_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=populate)


def test_a_group_with_several_authors_and_an_invitation_60x20(snap_compare):
    app, populate = group_app()
    assert snap_compare(app, terminal_size=(60, 20), run_before=populate)


def test_a_group_at_200x50(snap_compare):
    app, populate = group_app()
    assert snap_compare(app, terminal_size=(200, 50), run_before=populate)


def test_group_details_80x24(snap_compare):
    app, details = group_details_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=details)
