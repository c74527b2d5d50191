"""The states of a Session and the one table of which changes between them are legal.

Kept apart from session.py so the parts (paths, key schedule) can read the
state they are told without importing the Session that owns it.

    IDLE ──start()──▶ PROBING ──probe acked──▶ HANDSHAKE ──keys──▶ CONNECTED
                        │  ▲                       │                  │
              deadline  │  └───────────────────────┼── unanswered for ┘
                        │                          │   path_timeout
                        ▼                          │
                      FAILED ◀────── deadline ─────┘
                        └──start() or a probe from the peer──▶ PROBING

    any state ──close() or the peer's GOODBYE──▶ CLOSED (final)
    any state but CLOSED ──the peer restarted (a new tag)──▶ IDLE
"""

from __future__ import annotations

import enum
import logging

from .errors import LocalProtocolError

log = logging.getLogger(__name__)


class State(enum.Enum):
    IDLE = "idle"
    """The peer's addresses are not known yet."""
    PROBING = "probing"
    """Punching: probing every candidate address of the peer until one answers."""
    HANDSHAKE = "handshake"
    """A path works both ways; the secure handshake runs over it."""
    CONNECTED = "connected"
    """A path works both ways and is secured; messages flow."""
    FAILED = "failed"
    """No candidate answered before the deadline. Messages wait for the next attempt."""
    CLOSED = "closed"
    """We said goodbye, or the peer did: nothing more is sent but the goodbye itself.
    Final: a new conversation with the peer is a new Session."""


#: Every legal change of state: old -> the states it may become. Staying put is
#: always allowed (a no-op); anything else raises LocalProtocolError.
TRANSITIONS: dict[State, frozenset[State]] = {
    # IDLE -> HANDSHAKE/CONNECTED: data from the peer proves a path before we probed one.
    State.IDLE: frozenset({State.PROBING, State.HANDSHAKE, State.CONNECTED, State.CLOSED}),
    # PROBING -> CONNECTED: a path opens while we already hold keys (after a path was lost).
    # PROBING -> IDLE: the peer restarted.
    State.PROBING: frozenset({State.HANDSHAKE, State.CONNECTED, State.FAILED, State.IDLE, State.CLOSED}),
    State.HANDSHAKE: frozenset({State.CONNECTED, State.FAILED, State.IDLE, State.CLOSED}),
    # CONNECTED never FAILS outright: a lost path is punched for again first.
    State.CONNECTED: frozenset({State.PROBING, State.IDLE, State.CLOSED}),
    # FAILED -> HANDSHAKE/CONNECTED: a late answer to one of the punch's probes.
    State.FAILED: frozenset({State.PROBING, State.HANDSHAKE, State.CONNECTED, State.IDLE, State.CLOSED}),
    State.CLOSED: frozenset(),
}


def check_transition(old: State, new: State) -> None:
    """Raise LocalProtocolError unless old may become new."""
    if new is not old and new not in TRANSITIONS[old]:
        raise LocalProtocolError(f"a session may not go from {old.value} to {new.value}")


class Machine:
    """A state that changes only along TRANSITIONS, logging each change."""

    def __init__(self, name: str, state: State = State.IDLE) -> None:
        self.name = name
        self.state = state

    def change(self, new: State) -> bool:
        """Move to new; whether that was a change. LocalProtocolError, and the
        state left as it was, if the table forbids it."""
        old = self.state
        check_transition(old, new)
        if new is old:
            return False
        log.debug("session %s: %s -> %s", self.name, old.value, new.value)
        self.state = new
        return True
