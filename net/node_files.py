"""What the node does with files: send, accept, decline, cancel, and what stands.

A mixin of `Node` (node.py), as node_details.py is: the calls the application
makes, checked and handed to the files app (transfer/app.py), which runs the
transfers on the peers' sessions. All of them are synchronous: they decide and
queue; the events (events.FileOffered, FileProgress, FileReceived, FileSent,
FileFailed) tell what follows.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import events as ev
from .errors import ConfigError
from .peers import Peer, Peers
from .transfer.app import FilesApp


class NodeFiles:
    """File transfer for `Node` (a mixin: the parts are `Node`'s)."""

    _files: FilesApp
    _peers: Peers

    if TYPE_CHECKING:  # Node's and NodeTasks'.

        def _open(self, name: str) -> Peer: ...

        def _peer(self, name: str, incoming: bool = False) -> Peer: ...

    def send_file(self, peer: str, path: str | os.PathLike[str]) -> str:
        """Offer the file at path to peer: hashed first (in a worker thread), then offered
        whenever peer is connected, in this run or a later one. Returns the transfer's id
        (32 hex digits). Raises ConfigError for a bad name or a path that is not a
        readable regular file."""
        return self._files.send_file(self._open(peer), path)

    def accept_file(self, peer: str, transfer_id: str, directory: str | os.PathLike[str] | None = None) -> None:
        """Accept peer's offer into directory (default: config `downloads`, else the platform's
        downloads directory). Also takes up a transfer that failed in a way that can be
        resumed (a full disk), from what is on disk. Raises ConfigError for an unknown
        transfer, one not waiting for an answer, or a directory that cannot be written."""
        self._files.accept(self._conversation_of(peer, transfer_id), transfer_id, directory)

    def decline_file(self, peer: str, transfer_id: str) -> None:
        """Decline peer's offer: the peer is told. Raises ConfigError if it is not waiting."""
        self._files.decline(self._conversation_of(peer, transfer_id), transfer_id)

    def cancel_file(self, peer: str, transfer_id: str) -> None:
        """Cancel a transfer, ours or the peer's, at any point before it is done: both sides
        stop, and the receiver's partial file is removed. Raises ConfigError if there is none."""
        self._files.cancel(self._conversation_of(peer, transfer_id), transfer_id)

    def transfers(self, peer: str) -> list[ev.Transfer]:
        """This conversation's transfers not finished, and offers waiting for an answer
        (an earlier run's too)."""
        return self._files.transfers(peer)

    def _conversation_of(self, name: str, transfer_id: str) -> Peer:
        """The peer of a transfer; an earlier run's offer brings its conversation back."""
        peer = self._peers.get(name)
        if peer is not None:
            return peer
        if not self._files.holds(name, transfer_id):
            raise ConfigError(f"no transfer {transfer_id} with {name}")
        return self._resume_transfer(name)

    def _resume_transfer(self, name: str) -> Peer:
        """An unfinished transfer an earlier run left with name: the conversation is open
        (the user sent or accepted it, so name is no stranger)."""
        peer = self._peer(name)
        self._peers.opened(peer)
        return peer
