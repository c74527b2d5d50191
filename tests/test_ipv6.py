"""IPv6 (issue 16 point 3): one address form in the core, STUN family 0x02, --bind
and signalling URLs with IPv6, and dual-stack sockets over real loopback.

The ranking (IPv6 before IPv4 on the internet) is in test_session_paths.py; the
lab tests (firewalls, an IPv4-only peer, a server reached over IPv6) in
test_lab_ipv6.py.
"""

import errno
import socket
from collections import Counter

import pytest
import trio

from p2ptui.cli import build_parser
from p2ptui.net import ConfigError, stun, wire
from p2ptui.net.address import from_socket, to_socket
from p2ptui.net.datagrams import Datagrams, open_socket
from p2ptui.net.signalling import parse_signal_url, server
from p2ptui.settings import resolve_settings


def _loopback_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _loopback_ipv6(), reason="this host has no IPv6 loopback")


# --- One address form --------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, plain",
    [
        (("::ffff:203.0.113.5", 4000, 0, 0), ("203.0.113.5", 4000)),
        (("2001:db8::5", 4000, 0, 0), ("2001:db8::5", 4000)),
        (("203.0.113.5", 4000), ("203.0.113.5", 4000)),
        (("::ffff:0:1", 5), ("::ffff:0:1", 5)),  # not a dotted IPv4 tail: left alone
    ],
)
def test_what_a_socket_reports_becomes_one_plain_form(given, plain):
    assert from_socket(given) == plain


def test_an_ipv4_address_is_mapped_only_for_an_ipv6_socket():
    assert to_socket(("203.0.113.5", 1), ipv6_socket=True) == ("::ffff:203.0.113.5", 1)
    assert to_socket(("203.0.113.5", 1), ipv6_socket=False) == ("203.0.113.5", 1)
    assert to_socket(("2001:db8::5", 1), ipv6_socket=True) == ("2001:db8::5", 1)


# --- STUN ----------------------------------------------------------------------------------


def _family_of_mapped_address(response: bytes) -> int:
    # The only attribute: type (2) length (2) then reserved (1) family (1).
    assert response[20:22] == b"\x00\x20"  # XOR-MAPPED-ADDRESS
    return response[25]


def test_stun_answers_an_ipv6_client_with_family_2_and_the_client_reads_it():
    request = stun.BindingRequest(b"t" * 12)
    response = stun.binding_response(request, ("2001:db8::7", 5000, 0, 0))
    assert _family_of_mapped_address(response) == 2
    assert stun.parse_untrusted(response) == stun.BindingResponse(b"t" * 12, ("2001:db8::7", 5000))


def test_an_ipv4_client_of_a_dual_stack_server_is_told_its_plain_ipv4_address():
    request = stun.BindingRequest(b"t" * 12)
    response = stun.binding_response(request, ("::ffff:198.51.100.9", 5000, 0, 0))
    assert _family_of_mapped_address(response) == 1
    assert stun.parse_untrusted(response).mapped == ("198.51.100.9", 5000)


def test_a_server_that_says_ipv4_as_mapped_ipv6_is_read_as_plain_ipv4():
    from aioice import stun as codec

    message = codec.Message(codec.Method.BINDING, codec.Class.RESPONSE, transaction_id=b"t" * 12)
    message.attributes["XOR-MAPPED-ADDRESS"] = ("::ffff:198.51.100.9", 5000)
    assert stun.parse_untrusted(bytes(message)).mapped == ("198.51.100.9", 5000)


# --- Settings and URLs -----------------------------------------------------------------------


def _bind(tmp_path, *args):
    argv = ["--config-dir", str(tmp_path), "--name", "dana", *args]
    return resolve_settings(build_parser().parse_args(argv)).bind


@pytest.mark.parametrize(
    "given, bind",
    [
        ([], ("::", 0)),  # both families, any port
        (["--bind", "[::]:5000"], ("::", 5000)),
        (["--bind", "::"], ("::", 0)),
        (["--bind", "[2001:DB8::1]"], ("2001:db8::1", 0)),
        (["--bind", "2001:db8::1"], ("2001:db8::1", 0)),
        (["--bind", "0.0.0.0:5000"], ("0.0.0.0", 5000)),
        (["--bind", "127.0.0.1"], ("127.0.0.1", 0)),
    ],
)
def test_bind_takes_ipv4_and_ipv6_addresses(tmp_path, given, bind):
    assert _bind(tmp_path, *given) == bind


@pytest.mark.parametrize(
    "text", ["[::]:", "[::1", "[::1]5000", "[127.0.0.1]:5000", "::1:5000x", "[::]:+5", "localhost", "[::]:70000"]
)
def test_a_bad_bind_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="bad --bind"):
        _bind(tmp_path, "--bind", text)


def test_a_signalling_url_with_an_ipv6_address():
    url = parse_signal_url("tcp://[2001:DB8::1]:7878")
    assert (url.host, url.port) == ("2001:db8::1", 7878)
    assert str(url) == "tcp://[2001:db8::1]:7878"
    assert parse_signal_url(str(url)) == url
    with pytest.raises(ConfigError):
        parse_signal_url("tcp://[::1:7878")


# --- Dual-stack sockets over loopback -----------------------------------------------------------


TAG = b"\x01" * 8


@needs_ipv6
@pytest.mark.trio
async def test_one_dual_stack_socket_hears_both_families_at_plain_addresses():
    datagrams = Datagrams(open_socket(("::", 0)), Counter())
    await datagrams.bind(("::", 0))
    assert datagrams.ipv6 and datagrams.local_address[0] == "::"
    port = datagrams.local_address[1]
    got = []
    arrived = trio.Event()

    def sink(packet, source):
        got.append(source)
        if len(got) == 2:
            arrived.set()

    datagrams.sinks[TAG] = sink
    senders = [
        trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM),
        trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_DGRAM),
    ]
    await senders[0].bind(("127.0.0.1", 0))
    await senders[1].bind(("::1", 0))
    probe = wire.encode(wire.Probe(TAG, b"\x02" * 8, b"\x07" * 8))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(datagrams.receive)
            await senders[0].sendto(probe, ("127.0.0.1", port))
            await senders[1].sendto(probe, ("::1", port))
            await arrived.wait()
            # And back to each, given as the core gives addresses: plain IPv4 too.
            for sender in senders:
                await datagrams.send_direct(b"back", from_socket(sender.getsockname()))
                assert (await sender.recvfrom(100))[0] == b"back"
            nursery.cancel_scope.cancel()
    assert sorted(got) == sorted([("127.0.0.1", senders[0].getsockname()[1]), ("::1", senders[1].getsockname()[1])])
    assert datagrams.dropped == Counter()
    for sender in senders:
        sender.close()
    datagrams.socket.close()


@pytest.mark.trio
async def test_an_ipv4_socket_counts_an_ipv6_destination_and_sends_nothing():
    datagrams = Datagrams(open_socket(("127.0.0.1", 0)), Counter())
    await datagrams.bind(("127.0.0.1", 0))
    await datagrams.send_direct(b"x", ("2001:db8::9", 4000))
    assert datagrams.dropped == Counter({"no IPv6": 1}) and not datagrams.ipv6
    datagrams.socket.close()


@needs_ipv6
@pytest.mark.trio
async def test_the_server_on_any_address_takes_both_families_and_stun_tells_each_its_own(nursery):
    host, port = await nursery.start(server.serve, "::", 0)
    assert host == "::"
    for ip, family in (("127.0.0.1", trio.socket.AF_INET), ("::1", trio.socket.AF_INET6)):
        with trio.fail_after(10):
            stream = await trio.open_tcp_stream(ip, port)
            assert b"challenge" in await stream.receive_some()
            await stream.aclose()
            for stun_port in (port, port + 1):
                client = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
                with client:
                    await client.bind((ip, 0))
                    txid, request = stun.binding_request()
                    await client.sendto(request, (ip, stun_port))
                    answer = stun.parse_untrusted((await client.recvfrom(2048))[0])
                    assert answer == stun.BindingResponse(txid, (ip, client.getsockname()[1]))


# --- A host with no IPv6 ---------------------------------------------------------------------


class NoIPv6(trio.abc.SocketFactory):
    """trio's socket factory hook: a kernel without IPv6 refuses AF_INET6 sockets."""

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM, proto=0):
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return trio.socket.from_stdlib_socket(socket.socket(family, type, proto))


@pytest.mark.trio
async def test_without_ipv6_the_chat_socket_listens_on_ipv4_silently():
    trio.socket.set_custom_socket_factory(NoIPv6())
    datagrams = Datagrams(open_socket(("::", 0)), Counter())
    await datagrams.bind(("::", 0))
    assert not datagrams.ipv6 and datagrams.local_address[0] == "0.0.0.0"
    datagrams.socket.close()
    with pytest.raises(OSError):
        open_socket(("2001:db8::1", 0))  # an IPv6 address asked for by name is not fallen back from


@pytest.mark.trio
async def test_without_ipv6_the_server_on_any_address_listens_on_ipv4(nursery):
    trio.socket.set_custom_socket_factory(NoIPv6())
    host, port = await nursery.start(server.serve, "::", 0)
    assert host == "0.0.0.0"
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        assert b"challenge" in await stream.receive_some()
        await stream.aclose()
