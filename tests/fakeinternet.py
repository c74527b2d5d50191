"""A small internet on trio's fake network: NATs, a STUN server and a TURN server.

trio's FakeNet moves UDP datagrams between fake sockets in memory, and lets a
router see each one (`route_packet`). `Internet` is that router: hosts with
private addresses sit behind a `Nat` (cone or symmetric, port-restricted
filtering), which rewrites their datagrams' sources and admits only answers;
anything may be dropped by a test's rule. With trio's MockClock, a whole
conversation (punching, relaying, spraying, a rebinding) runs in virtual time,
in milliseconds of real time, the same way every run.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import trio
from aioice import stun as codec
from aioice.turn import make_integrity_key
from trio.testing._fake_net import FakeNet, UDPEndpoint, UDPPacket

from p2ptui.net import stun, turn
from p2ptui.net.address import Address

STUN_SERVER: Address = ("203.0.113.2", 3478)
#: A second one, so a symmetric NAT shows (two servers see two ports).
STUN_SERVER_2: Address = ("203.0.113.4", 3478)
TURN_SERVER: Address = ("203.0.113.3", 3478)
TURN_RELAYED: Address = ("203.0.113.3", 49152)
TURN_USER, TURN_PASSWORD, TURN_REALM = "alice", "secret", "fake.test"


def _address(endpoint: UDPEndpoint) -> Address:
    return str(endpoint.ip), endpoint.port


def _endpoint(address: Address) -> UDPEndpoint:
    return UDPEndpoint(ipaddress.ip_address(address[0]), address[1])


@dataclass
class Nat:
    """A NAT with one public IP. cone: one mapping per private address;
    symmetric: one per (private address, destination). Filtering is
    port-restricted: only an address the mapping sent to may answer."""

    public_ip: str
    lan: str  # e.g. "10.0.1.0/24"
    symmetric: bool = False
    #: Port-restricted filtering (else address-restricted: any port of an IP we sent to).
    port_restricted: bool = True
    seed: int = 0
    mappings: dict[tuple[Address, Address | None], int] = field(default_factory=dict)
    reverse: dict[int, Address] = field(default_factory=dict)
    allowed: set[tuple[int, Address]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def inside(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(self.lan)

    def outbound(self, source: Address, destination: Address) -> Address:
        key = (source, destination if self.symmetric else None)
        port = self.mappings.get(key)
        if port is None:
            port = self._rng.randrange(1024, 65536)
            while port in self.reverse:
                port = self._rng.randrange(1024, 65536)
            self.mappings[key], self.reverse[port] = port, source
        self.allowed.add((port, self._filter_key(destination)))
        return self.public_ip, port

    def inbound(self, port: int, source: Address) -> Address | None:
        if (port, self._filter_key(source)) not in self.allowed:
            return None
        return self.reverse.get(port)

    def _filter_key(self, address: Address) -> Address:
        return address if self.port_restricted else (address[0], 0)

    def rebind(self) -> None:
        """Forget every mapping, as a NAT restarting (or timing out) does."""
        self.mappings.clear()
        self.reverse.clear()
        self.allowed.clear()


class Internet:
    """The router of a FakeNet: NATs, drops, and a count of what crossed."""

    def __init__(self) -> None:
        self.net = FakeNet()
        self.net.route_packet = self._route
        self.nats: list[Nat] = []
        #: (source, destination) as sent, before any NAT -> drop it?
        self.drop: Callable[[Address, Address], bool] = lambda source, destination: False
        #: A datagram's bytes -> drop it? (a handshake message, say)
        self.drop_payload: Callable[[bytes], bool] = lambda payload: False
        self.sent: Counter[Address] = Counter()  # datagrams by source, as sent
        self.flows: Counter[tuple[Address, Address]] = Counter()  # by (source, destination), as sent
        #: Hosts that moved to another network: the IP their socket is bound to ->
        #: the IP the network knows them by now (as a socket bound to 0.0.0.0 would
        #: carry on from a new address).
        self.moved: dict[str, str] = {}

    def enable(self) -> None:
        self.net.enable()

    def nat(
        self, public_ip: str, lan: str, *, symmetric: bool = False, port_restricted: bool = True, seed: int = 0
    ) -> Nat:
        nat = Nat(public_ip, lan, symmetric, port_restricted, seed)
        self.nats.append(nat)
        return nat

    def move(self, ip: str, new_ip: str) -> None:
        """The host at ip is at new_ip from now on (another LAN, another NAT, say)."""
        self.moved[ip] = new_ip

    def bound(self, ip: str) -> int:
        """How many sockets are bound to ip."""
        return sum(str(binding.local.ip) == ip for binding in self.net._bound)

    def _nat_of(self, ip: str) -> Nat | None:
        return next((nat for nat in self.nats if nat.inside(ip)), None)

    def _route(self, packet: UDPPacket) -> None:
        source, destination = _address(packet.source), _address(packet.destination)
        source = (self.moved.get(source[0], source[0]), source[1])
        self.sent[source] += 1
        self.flows[source, destination] += 1
        if self.drop(source, destination) or self.drop_payload(packet.payload):
            return
        inner, outer = self._nat_of(source[0]), self._nat_of(destination[0])
        if inner is not None and inner is outer:
            self._deliver(source, destination, packet.payload)  # Within one LAN.
            return
        if outer is not None:
            return  # A private address, from outside its LAN: unroutable.
        if inner is not None:
            source = inner.outbound(source, destination)
        public = next((nat for nat in self.nats if nat.public_ip == destination[0]), None)
        if public is not None:
            private = public.inbound(destination[1], source)
            if private is None:
                return  # Filtered.
            destination = private
        self._deliver(source, destination, packet.payload)

    def _deliver(self, source: Address, destination: Address, payload: bytes) -> None:
        bound_to = {new: old for old, new in self.moved.items()}
        if destination[0] in self.moved:
            return  # Nobody is at a moved host's old address any more.
        destination = (bound_to.get(destination[0], destination[0]), destination[1])
        self.net.deliver_packet(UDPPacket(_endpoint(source), _endpoint(destination), payload))


async def stun_server(
    address: Address = STUN_SERVER, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Answers Binding requests at address with the address they came from."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(address)
        task_status.started()
        while True:
            data, source = await sock.recvfrom(2048)
            request = stun.parse_untrusted(data)
            if isinstance(request, stun.BindingRequest):
                await sock.sendto(stun.binding_response(request, source[:2]), source)


class TurnRelay:
    """A TURN server at TURN_SERVER for one client: long-term credentials,
    an allocation at TURN_RELAYED, permissions, channels, Send and Data."""

    def __init__(self) -> None:
        self.key = make_integrity_key(TURN_USER, TURN_REALM, TURN_PASSWORD)
        self.client: Address | None = None
        self.permitted: set[str] = set()
        self.channels: dict[int, Address] = {}
        self.relayed = 0  # datagrams relayed, both ways

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        control = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        relay = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with control, relay:
            await control.bind(TURN_SERVER)
            await relay.bind(TURN_RELAYED)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._control, control, relay)
                nursery.start_soon(self._relay, control, relay)
                task_status.started()

    async def _control(self, control: trio.socket.SocketType, relay: trio.socket.SocketType) -> None:
        while True:
            data, source = await control.recvfrom(65536)
            self.client = source[:2]
            if turn.looks_like_channel_data(data):
                number, payload = turn.parse_channel_data_untrusted(data)
                if number in self.channels:
                    self.relayed += 1
                    await relay.sendto(payload, self.channels[number])
                continue
            message = codec.parse_message(data)
            if message.message_class == codec.Class.INDICATION:
                peer = message.attributes["XOR-PEER-ADDRESS"]
                if peer[0] in self.permitted:
                    self.relayed += 1
                    await relay.sendto(message.attributes["DATA"], peer)
                continue
            await control.sendto(self._answer(message, source[:2]), source)

    def _answer(self, request: codec.Message, source: Address) -> bytes:
        if "MESSAGE-INTEGRITY" not in request.attributes or not request.check_message_integrity(self.key):
            response = codec.Message(request.message_method, codec.Class.ERROR, request.transaction_id)
            response.attributes.update(ERROR_CODE_401)
            response.attributes.update(REALM=TURN_REALM, NONCE=b"nonce")
            response.add_fingerprint()
            return bytes(response)
        response = codec.Message(request.message_method, codec.Class.RESPONSE, request.transaction_id)
        method = request.message_method
        if method == codec.Method.ALLOCATE:
            response.attributes.update({"XOR-RELAYED-ADDRESS": TURN_RELAYED, "XOR-MAPPED-ADDRESS": source})
            response.attributes["LIFETIME"] = request.attributes["LIFETIME"]
        elif method == codec.Method.REFRESH:
            response.attributes["LIFETIME"] = request.attributes["LIFETIME"]
        elif method == codec.Method.CREATE_PERMISSION:
            self.permitted.add(request.attributes["XOR-PEER-ADDRESS"][0])
        elif method == codec.Method.CHANNEL_BIND:
            peer = request.attributes["XOR-PEER-ADDRESS"]
            self.channels[request.attributes["CHANNEL-NUMBER"]] = peer
            self.permitted.add(peer[0])
        response.add_message_integrity(self.key)
        return bytes(response)

    async def _relay(self, control: trio.socket.SocketType, relay: trio.socket.SocketType) -> None:
        while True:
            data, source = await relay.recvfrom(65536)
            source = source[:2]
            if source[0] not in self.permitted or self.client is None:
                continue
            self.relayed += 1
            number = next((n for n, peer in self.channels.items() if peer == source), None)
            if number is not None:
                await control.sendto(turn.CHANNEL_HEADER.pack(number, len(data)) + data, self.client)
                continue
            indication = codec.Message(codec.Method.DATA, codec.Class.INDICATION)
            indication.attributes.update({"XOR-PEER-ADDRESS": source, "DATA": data})
            await control.sendto(bytes(indication), self.client)


ERROR_CODE_401 = {"ERROR-CODE": (401, "Unauthorized")}
TURN = turn.TurnServer(TURN_SERVER[0], TURN_SERVER[1], TURN_USER, TURN_PASSWORD)


async def start_internet(nursery: trio.Nursery, *, second_stun=stun_server) -> Internet:
    """The fake internet a node test starts with: enabled, both STUN servers answering
    (second_stun: another server for STUN_SERVER_2, a slow one say)."""
    net = Internet()
    net.enable()
    await nursery.start(stun_server, STUN_SERVER)
    await nursery.start(second_stun, STUN_SERVER_2)
    return net
