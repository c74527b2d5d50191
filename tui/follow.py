"""The app's side that follows the core: one `@on` handler per kind of core event.

`CoreFollower` is the base of `P2PApp`: it keeps the model of conversations
up to date with what the core says, and tells the user what went wrong.
What it shows, the widgets draw from the app's state (see `P2PApp.publish`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from textual import on
from textual.app import App
from textual.reactive import reactive
from textual.screen import ModalScreen

from p2ptui.net import events, format_address

from . import messages
from .core_thread import CoreClient, CoreStopped, MarkVerified
from .errors import signalling_advice
from .model import Conversation, Conversations, Line
from .sanitize import sanitize
from .widgets import ConversationLog
from .words import applicable_reason, describe

if TYPE_CHECKING:  # Not loaded for the first frame: the store imports sqlite3.
    from p2ptui.net import StoredMessage

#: A peer's toasts and bells come at most this often (seconds): a flood rings once.
NOTICE_INTERVAL = 3.0
TOAST_LENGTH = 100
#: An error's toast stays this long; the log keeps it after that.
ERROR_TOAST_SECONDS = 20
#: One that stops everything stays until the user acts (quits): a day is as good as forever.
LASTING_TOAST_SECONDS = 86400.0
#: A complaint about what was just typed stays this long, in a toast and the header.
COMPLAINT_SECONDS = 8.0


def short_form(text: str) -> str:
    """An error for the header: its first clause, the rest being in the toast and the log."""
    for mark in ("; ", ": "):
        head, found, _ = text.partition(mark)
        if found and len(head) >= 12:
            return f"⚠ {head} (more in the log)"
    return f"⚠ {text}"


class CoreFollower(App[None]):
    """Core events in, the conversations' state and the user's notices out."""

    signalling_up: reactive[bool | None] = reactive(None, init=False)
    """Whether the signalling server answers (None: not known yet). While it does
    not, nobody's presence is known: a peer not connected shows as unknown."""
    where: reactive[str] = reactive("", init=False)
    """The header's middle: the signalling service, our address and NAT."""
    problem: reactive[str] = reactive("", init=False)
    """The header's short form of the latest problem, "" when there is none."""

    # Set up by P2PApp.
    client: CoreClient
    me: str
    clock: Callable[[], datetime]
    model: Conversations
    bell_on: bool

    def _follow_init(self) -> None:
        self._last_notice: dict[str, float] = {}
        self._signalling_problem = ""
        self._lasting_problem = ""
        """The header's problem while nothing works (a taken name): small complaints pass, it stays."""
        self.fatal: CoreStopped | None = None
        """Why the core stopped by itself, if it did: the command line repeats it on exit."""

    # The app's own, called when a conversation's state changed.
    def publish(self) -> None: ...

    def select(self, name: str | None) -> None: ...

    def open_conversation(self, name: str, *, select: bool = True) -> None: ...

    def action_review_key(self, peer: str) -> None: ...

    @property
    def log_widget(self) -> ConversationLog:
        return self.query_one("#log", ConversationLog)

    # --- One handler per kind of core event ---------------------------------------------------

    @on(messages.Ready)
    def _when_ready(self, message: messages.Ready) -> None:
        ready = message.event
        self.where = f"{ready.signal} · {format_address(ready.address)} · NAT: {ready.nat}"
        self.problem = ""

    @on(messages.SignallingChanged)
    def _when_signalling(self, message: messages.SignallingChanged) -> None:
        status = message.event
        if status.connected:
            if self.signalling_up is False:
                self.show_info("The signalling server answers again")
            self._signalling_problem = ""
            self.problem = ""
            self.signalling_up = True
            return
        self.signalling_up = False
        advice = signalling_advice(status.message) + ("" if status.fatal else " (trying again)")
        if status.fatal:  # A name taken: nothing will connect until p2ptui is started anew.
            self.where = "not connected"
        if advice != self._signalling_problem:  # Said once, not at every retry.
            self._signalling_problem = advice
            self.show_error(advice, lasting=status.fatal)

    @on(messages.CoreStoppedMessage)
    def _when_core_stopped(self, message: messages.CoreStoppedMessage) -> None:
        self.fatal = message.event
        self.where = "stopped"
        self.show_error(f"p2ptui cannot go on: {message.event.message}. Ctrl+Q quits", lasting=True)

    @on(messages.CoreError)
    def _when_core_error(self, message: messages.CoreError) -> None:
        error = message.event
        self.show_error(error.message, peer=error.peer)
        conversation = self.model.get(error.peer) if error.peer and error.message_id else None
        if conversation and conversation.mark_failed(error.message_id) and error.peer == self.model.selected:
            self.log_widget.refresh()

    @on(messages.DetailsShown)
    def _when_details(self, message: messages.DetailsShown) -> None:
        from .screens import (
            DetailsScreen,  # Loaded on first use, not for the first frame.
        )

        self.push_screen(DetailsScreen(message.event))

    @on(messages.SafetyNumberShown)
    def _when_safety_number(self, message: messages.SafetyNumberShown) -> None:
        from .verify_screen import VerifyScreen  # Loaded on first use, not for the first frame.

        shown = message.event

        if isinstance(self.screen, VerifyScreen):
            return  # One at a time: a second /verify while one is up adds nothing.

        def answered(match: bool | None) -> None:
            if match:  # The core says "verified" (a PeerChanged) once it has marked it.
                self.client.submit(MarkVerified(shown.peer, shown.number))

        self.push_screen(VerifyScreen(shown.peer, shown.number, verification_lost=shown.verification_lost), answered)

    @on(messages.MessageDelivered)
    def _when_delivered(self, message: messages.MessageDelivered) -> None:
        delivered = message.event
        conversation = self.model.get(delivered.peer)
        if conversation and conversation.mark_delivered(delivered.id) and delivered.peer == self.model.selected:
            self.log_widget.refresh()

    @on(messages.HistoryLoaded)
    def _when_history(self, message: messages.HistoryLoaded) -> None:
        history = message.event
        peer = history.peer
        conversation = self.model.known(peer)
        conversation.history_complete = conversation.history_complete or history.complete
        if history.older:
            conversation.loading_older = False
        lines = [self.stored_line(peer, m) for m in history.messages]
        added = conversation.add_history(lines)
        if peer == self.model.selected and history.older:
            self.log_widget.prepended(added)
        elif peer == self.model.selected:
            self.log_widget.show(conversation)
        self.publish()  # The time of the last message.

    def stored_line(self, peer: str, m: StoredMessage) -> Line:
        """A line of a conversation's history, from the store."""
        return Line(datetime.fromtimestamp(m.at), self.me if m.outgoing else peer, sanitize(m.text),
                    own=m.outgoing, id=m.id, delivered=m.delivered)

    @on(messages.MessageReceived)
    def _when_message_received(self, message: messages.MessageReceived) -> None:
        received = message.event
        safe = sanitize(received.text)
        self.add_line(received.peer, Line(self.clock(), received.peer, safe, id=received.id))
        if received.peer != self.model.selected:
            self._notice(received.peer, safe)

    @on(messages.PeerChanged)
    def _when_peer_changed(self, message: messages.PeerChanged) -> None:
        changed = message.event
        closed = changed.peer in self.model.closed
        conversation = self.model.known(changed.peer)
        self.model.heard_of(changed.peer, incoming=changed.incoming)
        before = (conversation.status, conversation.path, conversation.remote)
        conversation.status = changed.status
        conversation.path = changed.path
        conversation.network = changed.network
        conversation.remote = format_address(changed.remote) if changed.remote else ""
        conversation.reason = changed.reason
        conversation.fingerprint = changed.fingerprint or conversation.fingerprint
        conversation.new_fingerprint = changed.new_fingerprint
        lost = changed.verification_lost and not conversation.verification_lost
        verified = changed.verified and not conversation.verified
        conversation.verified, conversation.verification_lost = changed.verified, changed.verification_lost
        self._log_connection_change(conversation, before)
        if verified:
            self.show_info(f"{changed.peer} is verified: you compared safety numbers")
        if lost:  # Loud: the one key the user had checked is not the one in use any more.
            self.show_error(
                f"{changed.peer}'s key changed after you verified it: compare safety numbers again (/verify)",
                peer=changed.peer,
            )
        if closed:
            return  # Noted for when it is opened again; a closed conversation does not interrupt.
        if changed.status == events.PeerStatus.KEY_CHANGED != before[0] and not isinstance(self.screen, ModalScreen):
            self.action_review_key(changed.peer)  # Once, as it changes; later: the sidebar's ! and /accept-key.
        if self.model.selected is None:
            self.select(changed.peer)
            return
        self.publish()
        if changed.peer == self.model.selected:
            self.log_widget.update_title()

    @on(messages.PeerForgotten)
    def _when_peer_forgotten(self, message: messages.PeerForgotten) -> None:
        if self.model.forget(message.event.peer):
            self.publish()

    # --- Lines in the log ---------------------------------------------------------------------

    def add_line(self, peer: str, line: Line, *, unread: bool = True) -> None:
        """A message (or a file), ours or the peer's: in its conversation, and in the log if it
        is shown; `unread=False` for one that is not news (shown again after a restart)."""
        if peer in self.model.closed and not line.own:
            self.model.bring_back(peer)  # A message brings it back.
        conversation = self.model.known(peer)
        conversation.add(line, shown=peer == self.model.selected, unread=unread)
        if peer == self.model.selected:
            self.log_widget.add(line)
        self.publish()  # The unread count and the time.

    def add_system_line(self, conversation: Conversation, text: str) -> None:
        # Our words, but they quote servers and peers (a refusal, a reason): sanitised.
        line = conversation.add_system(self.clock(), sanitize(text))
        if conversation.peer == self.model.selected:
            self.log_widget.add(line)

    def _log_connection_change(
        self, conversation: Conversation, before: tuple[events.PeerStatus, str | None, str]
    ) -> None:
        """A line in the log when the path comes, changes or goes, and when the key changes."""
        was, now = before[0], conversation.status
        if now == events.PeerStatus.KEY_CHANGED and was != now:
            self.add_system_line(
                conversation, f"{conversation.peer}'s key has changed: nothing is sent until you /accept-key"
            )
        elif now == events.PeerStatus.CONNECTED and before != (now, conversation.path, conversation.remote):
            self.add_system_line(conversation, describe(conversation))
        elif was == events.PeerStatus.CONNECTED and now != was:
            reason = applicable_reason(now, conversation.reason)
            line = f"{now.value}: {reason}" if reason else f"connection lost, now {now.value}"
            self.add_system_line(conversation, line)

    # --- Telling the user -----------------------------------------------------------------------

    def _notice(self, peer: str, text: str, *, title: str = "") -> None:
        """A toast, and the bell if it is on, for a message in a conversation not shown.

        The text is the peer's: it goes in as a plain string with markup off, so
        `[@click=…]` or `[b]` in it are just characters. At most one notice per
        peer every NOTICE_INTERVAL seconds; the sidebar counts the rest.
        """
        now = time.monotonic()
        if now - self._last_notice.get(peer, -NOTICE_INTERVAL) < NOTICE_INTERVAL:
            return
        if isinstance(self.screen, ModalScreen):
            return  # Never over a dialog (the safety number, say): the sidebar counts it.
        self._last_notice[peer] = now
        preview = " ".join(text.split())
        if len(preview) > TOAST_LENGTH:
            preview = preview[: TOAST_LENGTH - 1] + "…"
        self.notify(preview, title=title or peer, markup=False, timeout=6)
        if self.bell_on:
            self.bell()

    def show_error(self, text: str, *, peer: str | None = None, lasting: bool = False) -> None:
        """A problem from the core or the network: whole in a toast, kept in the log
        (the peer's conversation, or the one shown), short in the header. A lasting
        one (nothing works until the user acts) keeps its toast until then."""
        text = sanitize(text)  # It may quote a server or a peer: no escape reaches the terminal.
        timeout = LASTING_TOAST_SECONDS if lasting else ERROR_TOAST_SECONDS
        self.notify(text, title="Problem", severity="error", markup=False, timeout=timeout)
        conversation = self.model.open.get(peer or self.model.selected or "")
        if conversation is not None:
            self.add_system_line(conversation, text)
        self.problem = short_form(text)
        if lasting:
            self._lasting_problem = self.problem

    def complain(self, text: str) -> None:
        """What was just asked cannot be done: the answer, at once, in a toast, and in the
        header for a while (then the header shows the lasting problem again, if any)."""
        text = sanitize(text)
        self.notify(text, severity="warning", markup=False, timeout=COMPLAINT_SECONDS)
        shown = self.problem = f"⚠ {text}"

        def restore() -> None:
            if self.problem == shown:
                self.problem = self._lasting_problem

        self.set_timer(COMPLAINT_SECONDS, restore)

    def show_info(self, text: str) -> None:
        self.notify(sanitize(text), markup=False, timeout=8)
