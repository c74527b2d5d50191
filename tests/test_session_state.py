"""The session's one table of legal state changes, on its own and through a Session."""

import logging

import pytest

from p2ptui.net import session as sess
from p2ptui.net.errors import LocalProtocolError
from p2ptui.net.state import TRANSITIONS, Machine, State

from .fakenet import B_ADDR

ILLEGAL = [(old, new) for old in State for new in State if new is not old and new not in TRANSITIONS[old]]
LEGAL = [(old, new) for old in State for new in TRANSITIONS[old]]


def test_the_table_names_every_state():
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("old", "new"), ILLEGAL, ids=lambda s: s.value)
def test_every_illegal_change_raises_and_leaves_the_state_as_it_was(old, new):
    machine = Machine("test", old)
    with pytest.raises(LocalProtocolError, match=f"from {old.value} to {new.value}"):
        machine.change(new)
    assert machine.state is old


@pytest.mark.parametrize(("old", "new"), LEGAL, ids=lambda s: s.value)
def test_every_legal_change_is_made_and_logged(old, new, caplog):
    machine = Machine("test", old)
    with caplog.at_level(logging.DEBUG, logger="p2ptui.net.state"):
        assert machine.change(new) is True
    assert machine.state is new
    assert f"{old.value} -> {new.value}" in caplog.text


def test_staying_put_is_no_change():
    machine = Machine("test", State.CONNECTED)
    assert machine.change(State.CONNECTED) is False and machine.state is State.CONNECTED


def test_closed_is_final():
    assert TRANSITIONS[State.CLOSED] == frozenset()
    assert all(State.CLOSED in TRANSITIONS[s] for s in State if s is not State.CLOSED)


def test_a_closed_session_refuses_to_start_again_and_stays_closed():
    session = sess.Session()
    session.close(0.0)
    with pytest.raises(LocalProtocolError):
        session.start(b"P" * 8, [B_ADDR], 1.0, sess.Session().static_public)
    assert session.state == sess.State.CLOSED
    assert session.datagrams_to_send() == [] and session.next_timeout() is None
