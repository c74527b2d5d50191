"""The session's one table of legal state changes, on its own and through a Session."""

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2ptui.net import session as sess
from p2ptui.net.errors import LocalProtocolError
from p2ptui.net.state import TRANSITIONS, Machine, State

from .fakenet import B_ADDR, RELAY, Link

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


# --- No sequence of events reaches an illegal transition ------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["send", "ping", "relay on", "relay off", "cut", "heal", "restart", "introduce", "close"]),
        st.sampled_from(["a", "b"]),
        st.floats(0.0, 20.0),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS, seed=st.integers(0, 2**32), loss=st.floats(0.0, 0.5))
def test_no_sequence_of_events_makes_a_session_break_its_own_table(operations, seed, loss):
    # A transition the table forbids would raise LocalProtocolError inside the
    # node's receive loop or driver: whatever the network and the user do, none may.
    config = sess.SessionConfig(punch_timeout=3.0, path_timeout=2.0, keepalive_interval=1.0, rekey_after=4.0)
    link = Link.pair(config, loss=loss, max_delay=0.05, seed=seed)
    link.introduce(relay=True)
    for n, (operation, side, wait) in enumerate(operations):
        session = getattr(link, side)
        closed = session.state == sess.State.CLOSED
        match operation:
            case "send":
                session.send_message(b"m%07d" % n, f"message {n}", link.now)
            case "ping":
                session.ping(link.now)
            case "relay on" if side == "a":
                link.a.set_relays((RELAY,), link.now)
            case "relay off" if side == "a":
                link.a.set_relays((), link.now)
            case "cut":
                link.a_to_b = link.b_to_a = False
            case "heal":
                link.a_to_b = link.b_to_a = True
            case "restart":
                link.restart(side)
            case "introduce" if not closed and link.other(side).state != sess.State.CLOSED:
                link.introduce(relay=True)
            case "close":
                session.close(link.now)
        link.run(until=link.now + wait)
    for side in ("a", "b"):
        assert getattr(link, side).state in State
