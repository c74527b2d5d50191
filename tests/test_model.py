"""The conversations, without Textual: open, close, select, next, unread, jump, new."""

from datetime import datetime

from p2ptui.model import Conversations, Line

AT = datetime(2026, 11, 24, 9, 30)


def with_peers(*names: str) -> Conversations:
    model = Conversations()
    for name in names:
        assert model.add(name)  # new to the core: it must be told
        model.select(name)
    return model


def test_opening_again_is_not_new_and_a_closed_one_comes_back_with_its_lines():
    model = with_peers("alice", "bob")
    assert not model.add("alice")
    model.known("bob").add(Line(AT, "bob", "hi"), shown=True)
    assert model.remove("bob") == "alice"  # the neighbour is selected next
    assert list(model.open) == ["alice"] and "bob" in model.closed
    assert not model.add("bob")  # the core still knows bob
    assert [line.text for line in model.open["bob"].lines] == ["hi"]


def test_closing_selects_the_next_or_the_last():
    model = with_peers("a", "b", "c")
    model.select("b")
    assert model.remove("b") == "c"
    model.select("c")
    assert model.remove("c") == "a"
    model.select("a")
    assert model.remove("a") is None


def test_step_and_jump_go_round_the_ends():
    model = with_peers("a", "b", "c")  # c selected
    assert model.step(+1) == "a" and model.step(-1) == "b"
    assert model.jump(1) == "a" and model.jump(3) == "c" and model.jump(4) is None and model.jump(0) is None
    assert Conversations().step(+1) is None


def test_unread_counts_while_elsewhere_and_the_read_marker_moves_on_select():
    model = with_peers("a", "b")  # b selected
    model.known("a").add(Line(AT, "a", "one"), shown=False)
    model.known("a").add(Line(AT, "a", "two"), shown=False)
    assert model.waiting_elsewhere() == (2, 0)
    assert model.next_unread() == "a"
    assert model.select("a") and not model.select("a")
    assert model.open["a"].unread == 0 and model.open["a"].read_marker == 0
    assert model.next_unread() is None


def test_a_conversation_the_peer_started_is_new_once():
    model = with_peers("alice")
    model.known("mallory")  # its history came first
    model.heard_of("mallory", incoming=True)
    model.heard_of("alice", incoming=True)  # alice was opened by the user: not new
    assert model.open["mallory"].new and not model.open["alice"].new
    assert model.waiting_elsewhere() == (0, 1) and model.next_unread() == "mallory"
    model.select("mallory")
    model.heard_of("mallory", incoming=True)
    assert not model.open["mallory"].new


def test_a_stranger_let_go_leaves_the_list_unless_the_user_opened_or_looked_at_it():
    model = with_peers("alice")
    for name in ("mallory", "trudy", "alice"):
        model.heard_of(name, incoming=True)
    model.select("trudy")  # looked at: no longer new
    assert model.forget("mallory") and "mallory" not in model.open
    assert not model.forget("trudy") and "trudy" in model.open
    assert not model.forget("alice") and "alice" in model.open
    model.heard_of("mallory", incoming=True)  # offers again: new again
    assert model.open["mallory"].new
