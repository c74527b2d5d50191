"""pipe's files: the stdin commands, the five file events, and what the exit waits for.

A stdin line is a message, except: `/send PATH` offers the file at PATH to the
peer; a line meant as text that starts with a slash is written with two
(`//shrug` sends `/shrug`), as in the TUI; any other `/word` is refused with an
error event (never sent as text by mistake). `--accept-files DIR` accepts every
offered file into DIR. The exit waits for every transfer this run started (or
an earlier run left) to be sent or to fail; one that failed makes it exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from p2ptui.net import Node, P2PError, describe, events

#: (what, argument): ("text", TEXT), ("send", PATH) or ("error", MESSAGE).
Line = tuple[str, str]


def parse_line(line: str) -> Line:
    """What a stdin line asks for."""
    if line.startswith("//"):
        return "text", line[1:]
    if not line.startswith("/"):
        return "text", line
    command, _, argument = line[1:].partition(" ")
    if command == "send":
        path = argument.strip()
        if not path:
            return "error", "/send needs a PATH: /send PATH"
        return "send", path
    return "error", (
        f"unknown command /{command[:40]}: pipe knows /send PATH, /group NAME, /invite NAME PEER, "
        "/kick NAME PEER and /leave NAME; to send a line that starts "
        "with a slash, start it with two (//text)"
    )


def file_event(event: events.NodeEvent) -> tuple[str, dict[str, Any]] | None:
    """The pipe event (name, fields) for one of the core's file events, or None."""
    match event:
        case events.FileOffered(peer=peer, id=tid, name=name, size=size, outgoing=outgoing):
            return "file-offered", dict(peer=peer, id=tid, name=name, size=size, outgoing=outgoing)
        case events.FileProgress(peer=peer, id=tid, bytes=done, size=size, outgoing=outgoing):
            return "file-progress", dict(peer=peer, id=tid, bytes=done, size=size, outgoing=outgoing)
        case events.FileReceived(peer=peer, id=tid, path=path, size=size, sha256=digest):
            return "file-received", dict(peer=peer, id=tid, path=path, size=size, sha256=digest)
        case events.FileSent(peer=peer, id=tid):
            return "file-sent", dict(peer=peer, id=tid)
        case events.FileFailed(peer=peer, id=tid, reason=reason, outgoing=outgoing):
            return "file-failed", dict(peer=peer, id=tid, reason=reason, outgoing=outgoing)
    return None


@dataclass
class PipeFiles:
    """The pipe's transfers: those it sends (waited for at the end) and the offers it accepts."""

    node: Node
    peer: str
    accept_into: str | None = None
    sending: set[str] = field(default_factory=set)
    """Our transfers not yet sent or failed."""
    failed: int = 0
    settled: trio.Event = field(default_factory=trio.Event)

    def send(self, path: str) -> tuple[str, dict[str, Any]] | None:
        """Offer the file at path; an error event if that cannot be."""
        try:
            transfer_id = self.node.send_file(self.peer, path)
        except P2PError as exc:
            return "error", dict(message=f"not sent: {describe(exc)}")
        self.sending.add(transfer_id)
        self.settled = trio.Event()
        return None

    def resume(self) -> list[tuple[str, dict[str, Any]]]:
        """What an earlier run left: our unfinished transfers are waited for too, and its
        offers (never answered) are accepted now if --accept-files says so."""
        said: list[tuple[str, dict[str, Any]]] = []
        for transfer in self.node.transfers(self.peer):
            if transfer.outgoing and transfer.state not in ("done", "declined", "cancelled"):
                self.sending.add(transfer.id)
                self.settled = trio.Event()
            elif not transfer.outgoing and transfer.state == "offered":
                offered = events.FileOffered(transfer.peer, transfer.id, transfer.name, transfer.size)
                said += self.event(offered)
        return said

    def event(self, event: events.NodeEvent) -> list[tuple[str, dict[str, Any]]]:
        """The pipe events for a core event (none if it is not about files); accepts offers."""
        said = file_event(event)
        if said is None:
            return []
        told = [said]
        match event:
            case events.FileOffered(peer=peer, id=tid, outgoing=False) if self.accept_into is not None:
                try:
                    self.node.accept_file(peer, tid, self.accept_into)
                except P2PError as exc:
                    told.append(("error", dict(message=f"cannot accept {tid}: {describe(exc)}")))
            case events.FileSent(id=tid):
                self._settle(tid, failed=False)
            case events.FileFailed(id=tid, outgoing=True):
                self._settle(tid, failed=True)
        return told

    def _settle(self, transfer_id: str, *, failed: bool) -> None:
        if transfer_id not in self.sending:
            return
        self.sending.discard(transfer_id)
        self.failed += failed
        if not self.sending:
            self.settled.set()

    async def wait(self) -> None:
        """Until every transfer we send is sent or failed."""
        while self.sending:
            await self.settled.wait()
