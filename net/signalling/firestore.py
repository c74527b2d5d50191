"""Firestore signalling (firestore://PROJECT_ID), through the firebase-admin SDK.

The data model (see also the README):

    peers/{name}    presence: name, key, address, online, last_seen (Unix time),
                    updated (server time). The first key to create it owns the name.
    offers/{id}     an offer: the Offer fields, plus state ("open" or "answered"),
                    answer (the Answer fields, once answered), created (server time)
                    and expires_at (a timestamp, for a Firestore TTL policy).

What one connection setup costs (tests/test_firestore.py checks it), 3 writes
and 6 reads in all (7 once the receiver opens the conversation):

    offerer   creates the offer                                   1 write
              its listener sees the offer created and answered    2 reads
              deletes the answered offer                          1 write
              watches the receiver's presence                     1 read
    receiver  its listener sees the offer, then its own answer    2 reads
              reads the sender's presence to check its key        1 read
              answers by updating the offer (must exist)          1 write
              watches the sender's presence, once the user opens  1 read
              it (a stranger is never watched: rendezvous.py)

Removals from a listener's results are not billed. Presence costs one write
per peer per `presence_interval`, far below Firestore's one sustained write
per second per document.

Nothing piles up: an offer carries its expiry (`expires_at`, for a TTL policy),
and besides the answered ones the offerer deletes at once, every offer either
side saw (ours, or addressed to us) is deleted once it has expired, at the
next presence refresh: one write each, only for offers never answered (or
whose offerer was gone before it could delete them).

The SDK is synchronous: its calls run in trio worker threads, and its
listeners call back on threads of its own. Those callbacks only hand the raw
document to trio through the trio token (never blocking, never raising);
everything is checked and acted on in trio.

This module is the client: connecting, the listeners and the inbox they feed,
and the SDK calls. Split out when it passed 400 lines, each free of I/O:
`firestore_schema` (the documents we write, listener snapshots as `Change`
records, the checks on offer and answer documents), `firestore_presence`
(the watched peers' presence and its freshness) and `firestore_offers`
(which offers to delete once expired); `firestore_sdk` holds the blocking
SDK calls on our own documents.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ..identity import Identity
from . import (
    AnswerReceived,
    DiscoverAddress,
    OfferReceived,
    PresenceChanged,
    Registered,
    SignallingClient,
    SignallingEvent,
    SignallingLost,
    SignallingUnavailable,
    SignalUrl,
)
from .firestore_offers import ExpiringOffers
from .firestore_presence import PresenceBook
from .firestore_schema import (
    MAX_SKIP_REASONS,
    Change,
    answer_untrusted,
    answer_update,
    changes,
    count_skip,
    describe,
    offer_document,
    open_offer_untrusted,
)
from .firestore_sdk import _ONCE, OFFERS, PEERS, Documents, NameTaken
from .messages import Answer, Offer, SignallingDataError, format_address

__all__ = ["INBOX_SIZE", "MAX_SKIP_REASONS", "RETRY_MAX", "FirestoreSignalling"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

INBOX_SIZE = 1024
RETRY_MAX = 30.0


class FirestoreSignalling(SignallingClient):
    def __init__(
        self,
        url: SignalUrl,
        name: str,
        identity: Identity,
        *,
        credentials_file: str | None = None,
        presence_interval: float = 30.0,
    ):
        self.label = str(url)
        self._name = name
        self._presence_interval = presence_interval
        self._send_events, self.events = trio.open_memory_channel[SignallingEvent](INBOX_SIZE)
        self._inbox_send, self._inbox = trio.open_memory_channel[Change](INBOX_SIZE)
        self._token: trio.lowlevel.TrioToken | None = None
        self._documents = Documents(url.project, name, identity, credentials_file)
        self._listeners: dict[str, Any] = {}
        #: Document reads and writes this client made (the billed operations).
        self.operations: Counter[str] = Counter()
        #: Documents skipped because they did not validate, by reason.
        self.skipped: Counter[str] = Counter()
        #: The watched peers' presence; a peer whose presence is older than 3
        #: refresh intervals shows as offline.
        self._peers = PresenceBook(3 * presence_interval, self._skip)
        self._answered: set[str] = set()
        #: Offer documents seen (ours, or to us), to delete once expired.
        self._offers = ExpiringOffers()

    # --- The SignallingClient interface -------------------------------------------

    async def run(
        self,
        discover: DiscoverAddress,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        started = False
        backoff = 0.5
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._process_inbox)
                while True:
                    try:
                        await self._connect(discover)
                        await self._send_events.send(Registered(self._name, ""))
                        if not started:
                            started = True
                            task_status.started()
                        backoff = 0.5
                        await self._stay_registered()  # Returns only by raising.
                    except NameTaken as exc:
                        await self._send_events.send(SignallingLost(str(exc), fatal=True))
                        if not started:
                            task_status.started()
                        nursery.cancel_scope.cancel()
                        return
                    except Exception as exc:  # The SDK raises many kinds; all mean "not now".
                        await self._send_events.send(
                            SignallingLost(f"cannot reach Firestore ({self.label}): {describe(exc)}")
                        )
                        if not started:
                            started = True
                            task_status.started()
                        await trio.sleep(backoff)
                        backoff = min(backoff * 2, RETRY_MAX)
        finally:
            with trio.CancelScope(shield=True):
                await self._go_offline()

    async def watch(self, name: str) -> None:
        self._peers.watching.add(name)
        if self._documents.db is not None:
            await self._start_listener(f"presence:{name}")

    async def send_offer(self, offer: Offer) -> None:
        data = offer_document(offer)
        await self._call(lambda db: db.collection(OFFERS).document(offer.id).create(data, **_ONCE))
        self.operations["write"] += 1

    async def send_answer(self, answer: Answer) -> None:
        def update(db: Any) -> None:
            ref = db.collection(OFFERS).document(answer.offer_id)
            # update() has an exists precondition: answering an offer that was
            # withdrawn or expired fails instead of recreating it.
            ref.update(answer_update(answer), **_ONCE)

        await self._call(update)
        self.operations["write"] += 1

    # --- Connecting and staying connected -------------------------------------------

    async def _connect(self, discover: DiscoverAddress) -> None:
        if self._documents.db is None:
            await trio.to_thread.run_sync(self._documents.open)
        address = await discover([])  # Firestore has no STUN: only the configured servers.
        self._documents.address = format_address(address)
        await trio.to_thread.run_sync(self._documents.register)
        self.operations["read"] += 1  # Counted here, in trio: Counter is not thread-safe.
        self.operations["write"] += 1
        for key in ("offers-in", "offers-out", *(f"presence:{n}" for n in sorted(self._peers.watching))):
            await self._start_listener(key)

    async def _start_listener(self, key: str) -> None:
        """Start the listener called key, unless it runs. Only trio touches _listeners."""
        if key in self._listeners or self._token is None:  # Running, or going offline.
            return
        self._listeners[key] = None  # Claimed: a concurrent call does not start a second one.
        try:
            self._listeners[key] = await trio.to_thread.run_sync(self._documents.listen, key, self._callback)
        except Exception as exc:
            raise SignallingUnavailable(f"Firestore ({self.label}): {describe(exc)}") from exc
        finally:
            if self._listeners.get(key) is None:
                self._listeners.pop(key, None)
        if self._token is None:  # Went offline meanwhile: do not leave it running.
            listener = self._listeners.pop(key)
            await trio.to_thread.run_sync(listener.unsubscribe)

    async def _stay_registered(self) -> None:
        """Refresh presence, revive dead listeners, notice peers gone silent."""
        while True:
            await trio.sleep(self._presence_interval)
            await trio.to_thread.run_sync(self._documents.refresh_presence)
            self.operations["write"] += 1
            await self._delete_expired_offers()
            for key, listener in list(self._listeners.items()):
                if listener is not None and not listener.is_active:
                    log.info("Firestore listener %s stopped; starting it again", key)
                    del self._listeners[key]
                    await self._start_listener(key)
            for name in self._peers.names():
                await self._announce_presence(name)

    async def _go_offline(self) -> None:
        listeners = [listener for listener in self._listeners.values() if listener is not None]
        self._listeners.clear()
        self._token = None  # Late callbacks from Firestore's threads are dropped.
        if self._documents.db is None:
            return
        with trio.move_on_after(2):
            try:
                await trio.to_thread.run_sync(self._documents.close, listeners, abandon_on_cancel=True)
            except Exception as exc:
                log.info("could not mark %s offline: %s", self._name, describe(exc))

    # --- On Firestore's threads ---------------------------------------------------------

    def _callback(self, listener: str, doc_id: str = "") -> Callable[[Any, Any, Any], None]:
        def on_snapshot(snapshots: Any, document_changes: Any, read_time: Any) -> None:
            # Firestore's thread: hand over and return. Never raise, never block.
            try:
                items = changes(listener, doc_id, snapshots, document_changes)
                token = self._token
                if token is not None:
                    for item in items:
                        token.run_sync_soon(self._take, item)
            except Exception:
                log.exception("Firestore listener callback failed; the listener goes on")

        return on_snapshot

    # --- In trio ------------------------------------------------------------------------

    def _take(self, change: Change) -> None:
        try:
            self._inbox_send.send_nowait(change)
        except trio.WouldBlock:
            # Not lost: an offer stays in Firestore, and a revived listener sees it again.
            self.skipped["inbox full"] += 1

    async def _process_inbox(self) -> None:
        async for change in self._inbox:
            if change.kind != "REMOVED":  # Firestore bills what a listener adds or updates.
                self.operations["read"] += 1
            try:
                await self._handle(change)
            except SignallingDataError as exc:
                self._skip(str(exc))
                log.info("skipped Firestore document %s/%s: %s", change.listener, change.doc_id[:40], exc)
            except Exception as exc:  # A failed SDK call; the document waits for the next try.
                log.info("could not act on %s/%s: %s", change.listener, change.doc_id[:40], describe(exc))

    def _skip(self, reason: str) -> None:
        count_skip(self.skipped, reason)

    async def _handle(self, change: Change) -> None:
        if change.listener != "presence":
            self._offers.seen(change.doc_id, None if change.kind == "REMOVED" else change.data, change.update_time)
        if change.kind == "REMOVED" or change.data is None:
            self._answered.discard(change.doc_id)
            if change.listener == "presence":
                self._peers.removed(change.doc_id)
                await self._announce_presence(change.doc_id)
            return
        if change.listener == "presence":
            self._peers.arrived(change.doc_id, change.data, time.monotonic())
            await self._announce_presence(change.doc_id)
        elif change.listener == "offers-in":
            await self._offer_document(change)
        elif change.listener == "offers-out":
            await self._answer_document(change)

    async def _offer_document(self, change: Change) -> None:
        offer = open_offer_untrusted(change, self._name)
        if offer is None:
            return
        if offer.expires < time.time():
            await self._delete(change.doc_id, change.update_time)
            raise SignallingDataError("offer expired")
        sender = self._peers.document(offer.sender)
        if sender is None:
            sender = await self._read_presence(offer.sender)
        if not sender or sender.get("key") != offer.sender_key:
            raise SignallingDataError("offer key does not match the sender's presence")
        await self._send_events.send(OfferReceived(offer))

    async def _answer_document(self, change: Change) -> None:
        if change.doc_id in self._answered:
            return
        answer = answer_untrusted(change, self._name)
        if answer is None:
            return
        self._answered.add(change.doc_id)
        await self._send_events.send(AnswerReceived(answer))
        await self._delete(change.doc_id, change.update_time)

    async def _delete(self, doc_id: str, update_time: Any) -> None:
        def delete(db: Any) -> None:
            ref = db.collection(OFFERS).document(doc_id)
            # Only the version we saw: a concurrent change wins.
            ref.delete(option=db.write_option(last_update_time=update_time), **_ONCE)

        self._offers.forget(doc_id)
        await self._call(delete)
        self.operations["write"] += 1

    async def _delete_expired_offers(self) -> None:
        for doc_id, update_time in self._offers.expired(time.time()):
            try:
                await self._delete(doc_id, update_time)
            except SignallingUnavailable as exc:  # Gone already, or changed since: not ours to retry.
                log.info("could not delete expired offer %s: %s", doc_id[:40], exc)

    async def _read_presence(self, name: str) -> dict[str, Any] | None:
        def read(db: Any) -> dict[str, Any] | None:
            snapshot = db.collection(PEERS).document(name).get(**_ONCE)
            return snapshot.to_dict() if snapshot.exists else None

        self.operations["read"] += 1
        return await self._call(read)

    async def _announce_presence(self, name: str) -> None:
        """Tell the node the peer's presence, when it changed (or went stale)."""
        presence = self._peers.change(name, time.monotonic())
        if presence is not None:
            await self._send_events.send(PresenceChanged(presence))

    async def _call(self, function: Callable[[Any], _T]) -> _T:
        """Run a blocking SDK call in a thread; failures become SignallingUnavailable."""
        db = self._documents.db
        if db is None:
            raise SignallingUnavailable(f"not connected to {self.label}")
        try:
            return await trio.to_thread.run_sync(function, db)
        except Exception as exc:
            raise SignallingUnavailable(f"Firestore ({self.label}): {describe(exc)}") from exc

