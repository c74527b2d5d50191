"""Spraying, the I/O side: crossing a symmetric NAT against a cone one.

The numbers and the roles are spray.py's; this module paces the probes or
opens the sockets, reads those sockets, and closes them. One attempt per peer
at a time, at most one per SPRAY_INTERVAL, bounded in sockets (all peers
together), in count and in time. Everything it sends goes only to the peer's
public address from a signed offer or answer, and only toward the internet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trio

from . import nat, spray
from .address import Address, Via
from .datagrams import Datagrams, Exit
from .peers import Peer
from .ratelimit import TokenBucket

log = logging.getLogger(__name__)


def _open_files_limit() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


#: At most one spraying attempt per peer, and one toward any one IP, this often.
SPRAY_INTERVAL = 30.0
#: Spraying attempts a minute, all strangers together (names cost nothing, so a
#: cap per name alone would let anyone multiply it)...
SPRAYS_PER_MINUTE = 2
#: ...and apart, all the peers the user chose (pinned or opened) together: what
#: strangers spend never keeps a chosen peer behind a symmetric NAT away.
CHOSEN_SPRAYS_PER_MINUTE = 4
#: Spraying sockets open at once, all peers together: well below the usual limit
#: of 1,024 open files, so spraying can never starve the node of descriptors.
MAX_SPRAY_SOCKETS = min(1024, _open_files_limit() // 2)


@dataclass
class _Attempts:
    """One peer's spraying: whether it runs, when it began, its sockets by name."""

    running: bool = False
    began: float = float("-inf")
    sockets: dict[str, trio.socket.SocketType] = field(default_factory=dict)
    #: The peer was let go while the attempt ran: the record goes when it ends.
    forgotten: bool = False


class Sprayer:
    """Runs spraying attempts; `run()` holds their tasks and sockets."""

    def __init__(self, config: spray.SprayConfig, bind_ip: str, datagrams: Datagrams) -> None:
        self.config = config
        self._bind_ip = bind_ip
        self._datagrams = datagrams
        self._attempts: dict[str, _Attempts] = {}
        #: When an attempt last went toward each IP, for strangers and for chosen
        #: peers apart (pruned past SPRAY_INTERVAL).
        self._targets: dict[tuple[bool, str], float] = {}
        now = trio.current_time()
        #: The global caps, by whether the user chose the peer.
        self._caps = {
            False: TokenBucket(SPRAYS_PER_MINUTE / 60, SPRAYS_PER_MINUTE, now),
            True: TokenBucket(CHOSEN_SPRAYS_PER_MINUTE / 60, CHOSEN_SPRAYS_PER_MINUTE, now),
        }
        self._open = 0
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the attempts' tasks until cancelled; every socket is closed on the way out."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            for attempts in self._attempts.values():
                for sock in attempts.sockets.values():
                    sock.close()

    def consider(self, peer: Peer, ours: str, theirs: str, target: Address, *, chosen: bool = False) -> None:
        """Start an attempt toward target (the peer's public address, from its signed
        offer or answer) if our NAT types call for one and the limits allow it.
        chosen: the user chose the peer (pinned or opened): strangers' attempts
        do not count against it."""
        role = spray.role(ours, theirs)
        attempts = self._attempts.setdefault(peer.name, _Attempts())
        now = trio.current_time()
        if (
            role is None
            or not self.config.enabled
            or attempts.running
            or peer.direct.value
            # Only toward the internet (a signed record could name any address), and
            # one attempt per peer per SPRAY_INTERVAL, however many offers come.
            or nat.network_of(target[0]) != "internet"
            or now < attempts.began + SPRAY_INTERVAL
        ):
            return
        self._targets = {key: t for key, t in self._targets.items() if now < t + SPRAY_INTERVAL}
        if (chosen, target[0]) in self._targets or not self._caps[chosen].take(now):
            self._datagrams.dropped["spraying over its global cap"] += 1
            return
        self._targets[chosen, target[0]] = now
        assert self._nursery is not None, "the sprayer is not running"
        attempts.running, attempts.began = True, now
        self._nursery.start_soon(self._spray, peer, attempts, role, target)

    def forget(self, peer: Peer) -> None:
        """The peer is let go: its record goes once no attempt runs (one that runs ends
        within its budget, and closes its sockets)."""
        attempts = self._attempts.get(peer.name)
        if attempts is None:
            return
        if attempts.running:
            attempts.forgotten = True
            return
        self.release(peer)
        del self._attempts[peer.name]

    def __len__(self) -> int:
        """Peers with a spraying record (running, or within SPRAY_INTERVAL of one)."""
        return len(self._attempts)

    def spraying(self, peer: Peer) -> bool:
        attempts = self._attempts.get(peer.name)
        return attempts is not None and attempts.running

    def release(self, peer: Peer) -> None:
        """Close the peer's spraying sockets the path does not use (all of them
        once it moves on); while an attempt runs, it keeps them all."""
        attempts = self._attempts.get(peer.name)
        if attempts is None or attempts.running:
            return
        path = peer.session.path
        keep = path.local if isinstance(path, Via) and not path.relayed else None
        for name in [n for n in attempts.sockets if n != keep]:
            self._datagrams.exits.pop(name, None)
            attempts.sockets.pop(name).close()
            self._open -= 1

    async def _spray(self, peer: Peer, attempts: _Attempts, role: spray.Role, target: Address) -> None:
        """One bounded attempt: until a direct path works or the budget is spent."""
        log.info("spraying to %s:%d as the %s side", *target, role.value)
        try:
            with trio.move_on_after(self.config.budget):
                if role == spray.Role.HARD:
                    await self._open_sockets_toward(peer, attempts, target)
                else:
                    await self._probe_ports_of(peer, target[0])
                await peer.direct.wait_value(True)
        finally:
            attempts.running = False
            self.release(peer)
            if attempts.forgotten and self._attempts.get(peer.name) is attempts:
                del self._attempts[peer.name]  # Let go meanwhile: nothing of it stays.
            log.info("spraying to %s:%d ended: %s", *target, "direct" if peer.direct.value else "no direct path")

    async def _pace(self, index: int) -> None:
        """Before the index-th socket or probe: `rate` a second, in a batch every 20 ms."""
        batch = max(1, round(self.config.rate / 50))
        if index and index % batch == 0:
            await trio.sleep(batch / self.config.rate)

    async def _open_sockets_toward(self, peer: Peer, attempts: _Attempts, target: Address) -> None:
        """The hard side: a socket a mapping, each probing target once."""
        for index in range(self.config.sockets):
            await self._pace(index)
            if peer.direct.value:
                return
            if self._open >= MAX_SPRAY_SOCKETS:
                log.info("spraying: %d sockets open already, no more", self._open)
                return
            sock = await self._open_socket()
            if sock is None:
                return
            name = f"spray {sock.getsockname()[1]}"
            attempts.sockets[name] = sock
            self._open += 1
            self._datagrams.exits[name] = _exit(sock, self._datagrams)
            assert self._nursery is not None
            self._nursery.start_soon(self._read, sock, name)
            peer.session.probe(Via(name, target, relayed=False), trio.current_time())
            peer.wake()

    async def _open_socket(self) -> trio.socket.SocketType | None:
        try:
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        except OSError as exc:
            log.info("spraying: no more sockets: %s", exc)
            return None
        try:
            await sock.bind((self._bind_ip, 0))
        except BaseException as exc:  # Cancelled too: never leave it open.
            sock.close()
            if not isinstance(exc, OSError):
                raise
            log.info("spraying: no more sockets: %s", exc)
            return None
        return sock

    async def _probe_ports_of(self, peer: Peer, ip: str) -> None:
        """The easy side: once the hard side's mappings exist, probes at random ports of ip."""
        await trio.sleep(self.config.easy_delay)
        for index, port in enumerate(spray.probe_ports(self.config.probes)):
            await self._pace(index)
            if peer.direct.value:
                return
            peer.session.probe((ip, port), trio.current_time())
            peer.wake()

    async def _read(self, sock: trio.socket.SocketType, name: str) -> None:
        """Until the socket is closed: everything on it goes to the router, from a Via."""
        while True:
            try:
                data, source = await sock.recvfrom(2048)
            except (trio.ClosedResourceError, OSError):
                if _closed(sock):
                    return  # The attempt is over, or the path moved on.
                self._datagrams.dropped["receive error"] += 1
                continue
            self._datagrams.received(data, Via(name, (source[0], source[1]), relayed=False))


def _closed(sock: trio.socket.SocketType) -> bool:
    try:
        return sock.fileno() == -1
    except NotImplementedError:
        return True  # trio's fake sockets: only closing makes recvfrom fail.


def _exit(sock: trio.socket.SocketType, datagrams: Datagrams) -> Exit:
    async def send(data: bytes, peer: Address) -> None:
        try:
            await sock.sendto(data, peer)
        except OSError as exc:
            datagrams.dropped[f"send failed: {exc.strerror or exc}"] += 1

    return send
