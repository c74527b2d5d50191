"""What a session delivered, stored before it is acknowledged.

A received message is on disk before the ack that lets its sender forget it
goes out; a delivered one is marked so. When storing fails (a full disk), the
messages not stored are not acknowledged: the session takes them back
(`Session.not_kept`) and hands them over again later, while the sender keeps
them. The failure is told once, not at every retry.
"""

from __future__ import annotations

import logging
from collections import Counter

import trio

from . import session as sess
from .errors import EnvironmentFailure
from .store import MessageStore

log = logging.getLogger(__name__)


class Keeping:
    def __init__(self, store: MessageStore, dropped: Counter[str]) -> None:
        self._store = store
        self._dropped = dropped
        #: Storing fails: said once, until it works again.
        self._failing = False

    def keep(
        self, peer: str, session: sess.Session, events: list[sess.Event]
    ) -> tuple[list[sess.Event], EnvironmentFailure | None]:
        """The events to tell, once what they bring is on disk; and the first failure to
        store since storing last worked, to tell the user."""
        writes = sum(isinstance(e, sess.MessageReceived | sess.MessageDelivered) for e in events)
        if writes > 1:
            try:
                with self._store.batch():  # One commit for all of them.
                    kept, failure = self._each(peer, session, events, batched=True)
            except EnvironmentFailure:
                kept, failure = self._each(peer, session, events, batched=False)  # Keep what can be kept.
        else:
            kept, failure = self._each(peer, session, events, batched=False)
        return kept, self._news(failure, writes)

    def _each(
        self, peer: str, session: sess.Session, events: list[sess.Event], *, batched: bool
    ) -> tuple[list[sess.Event], EnvironmentFailure | None]:
        kept: list[sess.Event] = []
        duplicates, failure, unkept = 0, None, False
        for event in events:
            try:
                match event:
                    case sess.MessageReceived(message_id=message_id, text=text):
                        if failure is not None:  # None after one not stored: the order holds.
                            unkept = True
                            continue
                        if not self._store.received(peer, message_id.hex(), text):
                            # The sender resends after a crash what it could not know arrived.
                            duplicates += 1
                            continue
                    case sess.MessageDelivered(message_id=message_id):
                        # Not noted, it stays in the outbox: sent again after a restart, a copy the peer drops.
                        self._store.delivered(peer, message_id.hex())
            except EnvironmentFailure as exc:
                if batched:
                    raise  # The batch is rolled back; the caller goes one at a time.
                failure = failure or exc
                if isinstance(event, sess.MessageReceived):
                    unkept = True
                    continue
            kept.append(event)
        self._dropped["duplicate message"] += duplicates
        if unkept:
            session.not_kept(trio.current_time())
        return kept, failure

    def _news(self, failure: EnvironmentFailure | None, writes: int) -> EnvironmentFailure | None:
        if failure is None:
            if self._failing and writes:
                self._failing = False
                log.warning("messages can be stored again")
            return None
        if self._failing:
            return None
        self._failing = True
        log.warning("%s", failure)
        return failure
