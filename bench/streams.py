"""The references for file throughput: one stream of the same bytes through aioquic
(Python QUIC, the peer of what p2ptui's channel does) and through plain TCP.

Both on loopback, in this process, timed from the first byte written to the
last byte received: no file, no hash, only the transport.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import tempfile
import time
from functools import partial
from pathlib import Path

import trio

CHUNK = 64 * 1024
#: A run that has not finished by then is stuck: fail the run, never hang CI.
DEADLINE = 300


# --- aioquic --------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost made in the run (the client does not verify it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert, private = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, private


def _free_udp_port() -> int:
    # aioquic's server does not say which port 0 became.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _aioquic_once(data: bytes, directory: Path) -> float:
    from aioquic.asyncio import QuicConnectionProtocol, connect, serve
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.events import StreamDataReceived

    done = asyncio.get_running_loop().create_future()
    received = 0

    class Sink(QuicConnectionProtocol):
        def quic_event_received(self, event) -> None:
            nonlocal received
            if isinstance(event, StreamDataReceived):
                received += len(event.data)
                if event.end_stream and not done.done():
                    done.set_result(time.perf_counter())

    cert, key = _self_signed(directory)
    server_config = QuicConfiguration(is_client=False, alpn_protocols=["bench"])
    server_config.load_cert_chain(cert, key)
    port = _free_udp_port()
    server = await serve("127.0.0.1", port, configuration=server_config, create_protocol=Sink)
    try:
        client_config = QuicConfiguration(is_client=True, alpn_protocols=["bench"], verify_mode=ssl.CERT_NONE)
        async with connect("127.0.0.1", port, configuration=client_config) as client:
            _, writer = await client.create_stream()
            started = time.perf_counter()
            view = memoryview(data)
            for offset in range(0, len(view), CHUNK):
                writer.write(view[offset : offset + CHUNK])
            writer.write_eof()
            finished = await asyncio.wait_for(done, DEADLINE)
    finally:
        server.close()
    if received != len(data):
        raise RuntimeError(f"aioquic delivered {received} of {len(data)} bytes")
    return len(data) / (finished - started)


def aioquic_rate(data: bytes) -> float:
    """Bytes a second through one aioquic stream on loopback."""
    with tempfile.TemporaryDirectory(prefix="p2ptui-bench-quic-") as scratch:
        return asyncio.run(_aioquic_once(data, Path(scratch)))


# --- TCP ------------------------------------------------------------------------------------


async def tcp_rate(data: bytes) -> float:
    """Bytes a second through one trio TCP stream on loopback."""
    finished = trio.Event()
    result: dict[str, float] = {}

    async def sink(stream: trio.SocketStream) -> None:
        received = 0
        async with stream:
            while chunk := await stream.receive_some(CHUNK * 4):
                received += len(chunk)
        result["received"], result["finished"] = received, time.perf_counter()
        finished.set()

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, sink, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            started = time.perf_counter()
            async with stream:
                view = memoryview(data)
                for offset in range(0, len(view), CHUNK):
                    await stream.send_all(view[offset : offset + CHUNK])
            await finished.wait()
            nursery.cancel_scope.cancel()
    if result["received"] != len(data):
        raise RuntimeError(f"TCP delivered {result['received']:.0f} of {len(data)} bytes")
    return len(data) / (result["finished"] - started)
