"""The bridge between the Textual app (main thread) and the trio core (a worker thread).

Only two things cross the boundary, each through a trio memory channel:
commands from the UI into the core, and NodeEvents from the core to the UI.
Neither side ever blocks on the other:

- UI → core: `submit` hands the command to trio with `TrioToken.run_sync_soon`,
  which returns at once; in trio, `send_nowait` puts it on the command channel.
- core → UI: a trio task reads the node's event channel and calls `on_event`,
  which the app points at `App.post_message` (thread-safe, non-blocking).

`stop` cancels the trio run and joins the thread, so quitting never leaves a
trio loop running that would keep the process alive.

`start` does not wait for the thread: trio and the node are imported there,
while the UI draws its first frame. Commands submitted before the core is up
wait in a list, and go in, in order, once it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from p2ptui.net import P2PError, describe, events, exit_code

from .core_commands import (  # noqa: F401  (re-exported: the app and the tests import them from here)
    AcceptFile,
    AcceptKey,
    CancelFile,
    Command,
    CreateGroup,
    DeclineFile,
    GroupCommand,
    IgnoreInvite,
    Invite,
    JoinGroup,
    Kick,
    LeaveGroup,
    LoadOlder,
    MakeAdmin,
    MarkVerified,
    OpenPeer,
    SendFile,
    SendGroupText,
    SendText,
    ShowDetails,
    ShowGroup,
    ShowSafetyNumber,
    conversation_of,
)

if TYPE_CHECKING:
    import trio

    from p2ptui.net import Node

log = logging.getLogger(__name__)

COMMAND_BUFFER = 1024
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class CoreStopped:
    """The core ended by itself: it could not start (a port in use, a bad setting,
    a name taken) or it failed. `message` is the one line for a person
    (`p2ptui.net.describe`); the traceback, if any, is in the log file."""

    message: str
    exit_code: int = 1
    """What the command line would exit with: 2 for the user's input, 1 otherwise."""


CoreOutput = events.NodeEvent | CoreStopped
EventCallback = Callable[[CoreOutput], None]


class CoreClient(Protocol):
    """What the app needs of the core; tests give the app a fake one."""

    def start(self, on_event: EventCallback) -> None: ...

    def submit(self, command: Command) -> None: ...

    def stop(self) -> None: ...


class CoreThread:
    """Runs a node (from open_node, a factory of it) in a worker thread."""

    def __init__(self, open_node: Callable[[], AbstractAsyncContextManager[Node]]):
        self._open_node = open_node
        self._on_event: EventCallback = lambda event: None
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._commands: trio.MemorySendChannel[Command] | None = None
        self._lock = threading.Lock()
        #: Commands submitted before the core was up; None once it is.
        self._early: list[Command] | None = []
        self._stopped = False
        #: Commands refused because the channel was full or the core had stopped.
        self.refused = 0

    # --- Called from the UI thread ----------------------------------------------------

    def start(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        self._thread = threading.Thread(target=self._thread_main, name="p2ptui-core", daemon=True)
        self._thread.start()

    def submit(self, command: Command) -> None:
        with self._lock:
            if self._early is not None and not self._stopped:
                if len(self._early) < COMMAND_BUFFER:
                    self._early.append(command)
                    return
            token = self._token
        if token is None:
            self._refuse(command, "the network core is not running")
            return
        try:
            token.run_sync_soon(self._enqueue, command)
        except RuntimeError:  # trio.RunFinishedError
            self._refuse(command, "the network core has stopped")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            token, cancel = self._token, self._cancel
        if token is not None and cancel is not None:
            try:
                token.run_sync_soon(cancel.cancel)
            except RuntimeError:  # trio.RunFinishedError: it ended by itself.
                pass
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)

    # --- In the trio thread ---------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            import trio

            trio.run(self._main)
        except Exception as exc:  # Whatever it was (a group from a nursery too), the UI must hear of it, not die of it.
            log.error("the network core stopped: %s", describe(exc), exc_info=exc)
            self._on_event(CoreStopped(describe(exc), exit_code(exc)))
        finally:
            with self._lock:
                self._early = None  # From now on, submit() refuses.

    async def _main(self) -> None:
        import trio

        send, receive = trio.open_memory_channel[Command](COMMAND_BUFFER)
        with trio.CancelScope() as cancel:
            with self._lock:
                if self._stopped:
                    return
                self._token, self._cancel, self._commands = trio.lowlevel.current_trio_token(), cancel, send
                early, self._early = self._early or [], None
            for command in early:
                self._enqueue(command)
            async with self._open_node() as node, trio.open_nursery() as nursery:
                nursery.start_soon(self._forward_events, node)
                await self._run_commands(node, receive)

    def _enqueue(self, command: Command) -> None:
        import trio  # Already imported by this thread: a dictionary lookup.

        assert self._commands is not None
        try:
            self._commands.send_nowait(command)
        except trio.WouldBlock:
            self._refuse(command, "the network core is busy")

    def _refuse(self, command: Command, why: str) -> None:
        self.refused += 1
        peer = conversation_of(command)
        self._on_event(events.Error(f"not sent to {peer}: {why}", peer=peer))

    async def _forward_events(self, node: Node) -> None:
        known: set[str] = set()
        async for event in node.events:
            if isinstance(event, events.PeerForgotten):
                known.discard(event.peer)  # If it comes back, its history comes first again.
            # A member the user never opened gets no conversation, so no history either.
            if isinstance(event, events.PeerChanged) and event.peer not in known and not event.member_only:
                # A conversation the UI has not seen (an incoming one, or one with
                # messages left in the outbox): its history first.
                known.add(event.peer)
                self._on_event(node.history(event.peer))
                self._send_transfers(node, event.peer)
            self._on_event(event)
            if isinstance(event, events.MessageReceived):
                # The UI shows every message it is handed (as unread if elsewhere): a
                # later `p2ptui pipe` on this config must not print it again.
                if event.group:
                    node.mark_group_shown(event.group, event.id)
                else:
                    node.mark_shown(event.peer, event.id)

    def _send_transfers(self, node: Node, peer: str) -> None:
        """After its history, a conversation's offers waiting for an answer and its transfers
        not finished (after a restart too), each as it stands."""
        try:
            transfers = node.transfers(peer)
        except (ValueError, P2PError) as exc:
            self._on_event(events.Error(describe(exc), peer=peer))
            return
        for transfer in transfers:
            self._on_event(transfer)

    @staticmethod
    def _file_command(node: Node, command: SendFile | AcceptFile | DeclineFile | CancelFile) -> None:
        match command:
            case SendFile(peer=peer, path=path):
                node.send_file(peer, path)  # Its FileOffered echo shows it.
            case AcceptFile(peer=peer, id=transfer_id):
                node.accept_file(peer, transfer_id)
            case DeclineFile(peer=peer, id=transfer_id):
                node.decline_file(peer, transfer_id)
            case CancelFile(peer=peer, id=transfer_id):
                node.cancel_file(peer, transfer_id)

    async def _run_commands(self, node: Node, commands: trio.MemoryReceiveChannel[Command]) -> None:
        async for command in commands:
            try:
                match command:
                    case OpenPeer(peer=peer) | LoadOlder(peer=peer) if peer.startswith("#"):
                        self._run_group_command(node, command)
                    case OpenPeer(peer=peer):
                        node.open(peer)
                        self._on_event(node.history(peer))
                        self._send_transfers(node, peer)
                    case SendText(peer=peer, text=text, id=message_id):
                        node.send(peer, text, message_id=message_id)
                    case AcceptKey(peer=peer, fingerprint=seen):
                        node.accept_key(peer, seen)
                    case LoadOlder(peer=peer, before=before):
                        self._on_event(node.history(peer, before=before))
                    case ShowDetails(peer=peer):
                        self._on_event(node.details(peer))
                    case ShowSafetyNumber(peer=peer):
                        details = node.details(peer) if peer in node.conversations() else None
                        self._on_event(events.SafetyNumber(
                            peer,
                            node.safety_number(peer),
                            verified=details is not None and details.verified,
                            verification_lost=details is not None and details.verification_lost,
                        ))
                    case MarkVerified(peer=peer, number=number):
                        node.mark_verified(peer, seen=number)
                    case SendFile() | AcceptFile() | DeclineFile() | CancelFile():
                        self._file_command(node, command)
                    case _:
                        self._run_group_command(node, command)
            except (ValueError, P2PError) as exc:  # The core refused it: said, never fatal to the core.
                refused = command.id if isinstance(command, SendText | SendGroupText) else ""
                self._on_event(events.Error(describe(exc), peer=conversation_of(command), message_id=refused))

    def _run_group_command(self, node: Node, command: Command) -> None:
        match command:
            case OpenPeer(peer=peer):
                self._on_event(node.group_history(peer[1:]))
                self._on_event(events.GroupChanged(node.group_details(peer[1:])))
            case LoadOlder(peer=peer, before=before):
                self._on_event(node.group_history(peer[1:], before=before))
            case CreateGroup(name=name):
                node.create_group(name)
            case Invite(group=group, peer=peer):
                node.invite(group, peer)
            case JoinGroup(group=group):
                node.join(group)
            case IgnoreInvite(group=group):
                node.ignore_invite(group)
            case LeaveGroup(group=group):
                node.leave(group)
            case Kick(group=group, peer=peer):
                node.kick(group, peer)
            case MakeAdmin(group=group, peer=peer):
                node.make_admin(group, peer)
            case SendGroupText(group=group, text=text, id=message_id):
                node.send_group(group, text, message_id=message_id)
            case ShowGroup(group=group):
                self._on_event(node.group_details(group))
