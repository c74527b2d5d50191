"""The groups' pure parts: where a message goes in a group's order, what a group says of itself."""

from datetime import datetime

from p2ptui.groups import GroupState, describe_group, is_group, key_of, name_of, position_for
from p2ptui.model import Conversation, Conversations, Line, LineKind
from p2ptui.net import PeerStatus, events
from p2ptui.slash_groups import member_rows

AT = datetime(2026, 11, 24, 9, 30)


def message(text, lamport=None, *, own=False):
    order = (lamport, f"{text}-fp") if lamport is not None else ()
    return Line(AT, "you" if own else "alice", text, own=own, id=text, order=order)


def system(text):
    return Line(AT, "", text, kind=LineKind.SYSTEM)


def texts(conversation):
    return [line.text for line in conversation.lines]


def test_a_conversation_keyed_by_a_hash_is_a_group():
    assert is_group("#team") and not is_group("team") and not is_group(None)
    assert key_of("team") == "#team" and name_of("#team") == "team"
    assert Conversation("#team").group == GroupState() and Conversation("alice").group is None


def test_a_message_in_order_goes_at_the_end_after_the_lines_about_the_group():
    lines = [message("a", 1), system("bob joined")]
    assert position_for(lines, (2, "x")) == 2


def test_a_late_message_goes_before_every_message_after_it():
    lines = [message("a", 1), message("c", 5), system("bob joined"), message("d", 7)]
    assert position_for(lines, (3, "x")) == 1
    assert position_for(lines, (6, "x")) == 3  # after the line about bob, before d
    assert position_for(lines, (0, "x")) == 0


def test_equal_clocks_are_ordered_by_the_authors_fingerprint():
    lines = [message("a", 4), message("c", 4)]  # fingerprints "a-fp" < "c-fp"
    assert position_for(lines, (4, "b-fp")) == 1


def test_stored_lines_without_an_order_come_first_and_our_unplaced_ones_are_passed_over():
    lines = [message("stored"), message("late", 9), message("mine", own=True)]
    assert position_for(lines, (1, "x")) == 1  # after what was stored, before "late"
    assert position_for(lines, (10, "x")) == 3


def test_a_late_message_not_shown_counts_as_unread_from_its_place():
    conversation = Conversation("#team")
    conversation.place(message("a", 1), shown=True)
    conversation.place(message("c", 5), shown=False)
    assert conversation.first_unread == 1
    conversation.place(message("b", 3), shown=False)
    assert texts(conversation) == ["a", "b", "c"]
    assert conversation.unread == 2 and conversation.first_unread == 1
    conversation.place(message("e", 9), shown=False)
    conversation.place(message("d", 7), shown=False)  # after the first unread: it stays
    assert texts(conversation) == ["a", "b", "c", "d", "e"]
    assert conversation.unread == 4 and conversation.first_unread == 1


def test_a_line_inserted_above_the_read_marker_moves_it_down():
    conversation = Conversation("#team")
    for line in (message("a", 1), message("c", 5)):
        conversation.place(line, shown=False)
    conversation.open()  # the marker sits above "a"
    conversation.place(message("b", 3), shown=True)
    assert conversation.lines[conversation.read_marker].text == "a"
    conversation.place(message("zero", 0), shown=True)
    assert conversation.lines[conversation.read_marker].text == "a"


def test_our_message_moves_where_the_core_placed_it():
    conversation = Conversation("#team")
    for line in (message("a", 1), message("c", 5), message("mine", own=True)):
        conversation.place(line, shown=True)
    assert conversation.placed("mine", (3, "dana-fp"))
    assert texts(conversation) == ["a", "mine", "c"]
    assert not conversation.placed("unknown", (4, "dana-fp"))


def test_the_sidebar_order_puts_the_groups_after_the_peers():
    model = Conversations()
    for name in ("alice", "#team", "bob", "#book"):
        model.add(name)
    assert model.in_order() == ["alice", "bob", "#team", "#book"]
    model.select("bob")
    assert model.step(1) == "#team" and model.jump(4) == "#book"


def test_a_group_describes_itself():
    state = GroupState(names=("alice", "dana"))
    assert describe_group(state) == "2 members"
    state.described(events.GroupInfo("team", "ab" * 16, (
        events.Member("dana", "d", True, PeerStatus.CONNECTED),
        events.Member("alice", "a", False, PeerStatus.CONNECTED),
        events.Member("bob", "b", False, PeerStatus.OFFLINE),
    ), admin=True), "dana")
    assert describe_group(state) == "3 members, 1 connected, you are an admin"  # we do not count
    assert state.peer_changed("bob", PeerStatus.CONNECTED) and not state.peer_changed("zed", PeerStatus.CONNECTED)
    assert state.connected == 2
    assert describe_group(GroupState(invited_by="alice")).startswith("alice invited you: /join")


def test_members_are_listed_with_their_path_state_us_first():
    state = GroupState()
    state.described(events.GroupInfo("team", "ab" * 16, (
        events.Member("bob", "b", False, PeerStatus.FAILED),
        events.Member("dana", "d", True, PeerStatus.CONNECTED),
        events.Member("alice", "a", True, PeerStatus.CONNECTING),
    ), admin=True), "dana")
    assert member_rows(state, "dana") == [
        "  you (admin)",
        "◐ alice (admin): connecting",
        "✕ bob: no path found; trying again",
    ]
    assert member_rows(GroupState(names=("alice",)), "dana") == ["alice: not known yet"]


def test_a_group_we_are_not_in_any_more_says_so():
    state = GroupState()
    state.described(events.GroupInfo("team", "ab" * 16, (events.Member("alice", "a", True, PeerStatus.CONNECTED),),
                                     admin=False), "dana")
    assert not state.joined and describe_group(state).startswith("you are not a member any more")
