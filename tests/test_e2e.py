"""End to end: real p2ptui processes talking over real loopback sockets."""

import json
import os
import uuid

import pytest

from .processes import Processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def test_two_pipes_exchange_messages_both_ways_through_the_server(processes):
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    assert alice.event("ready")["name"] == "alice"
    assert alice.event("waiting") == {"event": "waiting", "peer": "bob"}
    bob = processes.pipe("bob", "alice", url)
    connected = alice.event("connected")
    assert connected["peer"] == "bob" and connected["path"] == "direct"
    assert connected["remote"].startswith("127.0.0.1:")
    alice.send("hello bob")
    message = bob.event("message")
    assert (message["peer"], message["text"]) == ("alice", "hello bob")
    assert alice.event("delivered")["id"] == message["id"]
    bob.send("hello alice, with ünïcode and [markup]")
    assert alice.event("message")["text"] == "hello alice, with ünïcode and [markup]"
    for process in (alice, bob):
        process.close_stdin()
    assert alice.wait() == 0 and bob.wait() == 0


def test_a_burst_written_at_once_arrives_whole_and_in_order(processes):
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    bob = processes.pipe("bob", "alice", url)
    alice.event("connected")
    lines = [f"line {n:03d} of a paste" for n in range(300)]
    assert alice.popen.stdin is not None
    alice.popen.stdin.write("".join(line + "\n" for line in lines))  # one write: a burst
    alice.popen.stdin.flush()
    assert [bob.event("message")["text"] for _ in lines] == lines
    alice.close_stdin()
    bob.close_stdin()
    assert alice.wait() == 0  # every one delivered


def test_two_pipes_exchange_messages_through_firestore(processes, firestore_host):
    # The project the issue names. Names of their own, so that a rerun against a
    # user's long-running emulator does not meet names bound to earlier keys.
    env = {"FIRESTORE_EMULATOR_HOST": firestore_host}
    a, b = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    alice = processes.pipe(a, b, "firestore://demo-p2ptui", env=env)
    bob = processes.pipe(b, a, "firestore://demo-p2ptui", env=env)
    assert alice.event("connected")["path"] == "direct"
    alice.send("hello through firestore")
    assert bob.event("message")["text"] == "hello through firestore"
    bob.send("and back")
    assert alice.event("message")["text"] == "and back"
    alice.close_stdin()
    bob.close_stdin()
    assert alice.wait() == 0 and bob.wait() == 0


def test_simultaneous_start_resolves_into_one_conversation(processes):
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    bob = processes.pipe("bob", "alice", url)
    for i in range(5):
        alice.send(f"from alice {i}")
        bob.send(f"from bob {i}")
    assert [bob.event("message")["text"] for _ in range(5)] == [f"from alice {i}" for i in range(5)]
    assert [alice.event("message")["text"] for _ in range(5)] == [f"from bob {i}" for i in range(5)]
    alice.close_stdin()
    bob.close_stdin()
    assert alice.wait() == 0 and bob.wait() == 0


def test_echo_sends_every_message_back(processes):
    url = processes.server()
    processes.pipe("echo", "alice", url, "--echo")
    alice = processes.pipe("alice", "echo", url)
    alice.send("ping")
    reply = alice.event("message")
    assert (reply["peer"], reply["text"]) == ("echo", "ping")


def test_waiting_for_a_peer_times_out_with_an_error(processes):
    url = processes.server()
    alice = processes.pipe("alice", "nobody", url, "--timeout", "1")
    assert alice.event("waiting")["peer"] == "nobody"
    assert "did not connect within 1 s" in alice.event("error")["message"]
    assert alice.wait() == 1


def test_an_unreachable_server_is_one_clear_error(processes):
    from .processes import free_port

    alice = processes.pipe("alice", "bob", f"tcp://127.0.0.1:{free_port()}")
    error = alice.event("error")
    assert "cannot reach the signalling server" in error["message"]
    assert alice.wait() == 1


def test_a_taken_name_is_refused(processes):
    url = processes.server()
    processes.pipe("alice", "bob", url).event("ready")
    processes.tmp_path.joinpath("thief").mkdir()
    thief = processes.start(
        "pipe", "--name", "alice", "--peer", "bob", "--signal", url,
        "--config-dir", str(processes.tmp_path / "thief"), "--bind", "127.0.0.1",
    )
    assert "taken by another key" in thief.event("error")["message"]
    assert thief.wait() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--signal", "http://example.invalid"], "bad signalling URL"),
        (["--name", "no spaces please"], "invalid name"),
        (["--bind", "127.0.0.1:99999"], "out of range"),
        (["--bind", "localhost"], "bad --bind"),
        (["--keepalive", "0"], "bad keepalive"),
        (["--stun", "a..b:3478"], "not a host name"),
    ],
)
def test_bad_options_are_one_line_and_no_traceback(processes, tmp_path, args, message):
    process = processes.start("pipe", "--peer", "bob", "--config-dir", str(tmp_path), *args)
    output = [line for line in iter(process.line, None)]
    assert process.wait() == 2
    assert len(output) == 1 and message in output[0]
    assert "Traceback" not in output[0]


def test_ping_reports_each_round_trip_and_a_summary(processes):
    url = processes.server()
    processes.pipe("bob", "alice", url)  # answers probes from its core, not from the script
    ping = processes.start(
        "ping", "bob", "-c", "3", "--interval", "0.1", "--json", "--name", "alice", "--signal", url,
        "--config-dir", str(processes.tmp_path / "alice"), "--bind", "127.0.0.1",
    )
    pongs = [ping.event("pong") for _ in range(3)]
    assert [p["seq"] for p in pongs] == [0, 1, 2] and all(p["rtt_ms"] > 0 for p in pongs)
    summary = ping.event("summary")
    assert summary["path"] == "direct" and summary["remote"].startswith("127.0.0.1:")
    assert (summary["sent"], summary["received"]) == (3, 3)
    assert summary["connect_ms"] > 0
    rtt = summary["rtt_ms"]
    assert rtt["min"] <= rtt["p50"] <= rtt["p99"] <= rtt["max"]
    assert all(summary["dropped"].values()), "only counters that counted something"
    assert ping.wait() == 0


def test_ping_of_a_peer_that_never_comes_is_an_error(processes):
    url = processes.server()
    ping = processes.start(
        "ping", "nobody", "--timeout", "1", "--json", "--name", "alice", "--signal", url,
        "--config-dir", str(processes.tmp_path / "alice"), "--bind", "127.0.0.1",
    )
    assert "no path to nobody" in ping.event("error")["message"]
    assert ping.wait() == 1


def test_nat_check_on_loopback_finds_no_nat(processes):
    url = processes.server()
    check = processes.start(
        "nat-check", "--json", "--signal", url, "--config-dir", str(processes.tmp_path / "c"), "--bind", "127.0.0.1",
    )
    report = json.loads(check.line())
    assert report["nat"] == "open" and report["mapping"] == "endpoint-independent"
    assert len(report["mapped"]) == 2  # the server's port and the next one both answered
    # The full report: no NAT, so no hairpin test; no port mapping for a loopback socket.
    assert report["udp"] is True and report["ipv4"] == "127.0.0.1" and report["ipv6"] is None
    assert report["hairpinning"] is None and report["portmap"] is None
    assert [s["kind"] for s in report["servers"]] == ["stun", "stun"]
    assert all(s["rtt_ms"] is not None and s["rtt_ms"] >= 0 for s in report["servers"])
    assert check.wait() == 0


def test_nat_check_with_the_default_dual_stack_bind_asks_ipv6_servers_over_ipv6(processes):
    url = processes.server("--host", "::")
    port = int(url.rsplit(":", 1)[1])
    config = processes.tmp_path / "c"
    config.mkdir(mode=0o700)
    # Port mapping off: a test never asks this machine's real router anything.
    (config / "config.toml").write_text("portmap = false\n")
    (config / "config.toml").chmod(0o600)
    check = processes.start(
        "nat-check", "--json", "--signal", url, "--config-dir", str(config), "--stun", f"[::1]:{port}",
    )
    report = json.loads(check.line())
    assert check.wait() == 0
    assert report["ipv4"] == "127.0.0.1" and report["ipv6"] == "::1"
    assert report["nat"] == "open"  # the IPv6 answer's port does not count toward the IPv4 NAT
    assert f"[::1]:{port}" in [s["server"] for s in report["servers"]]


def _nat_check_config(processes):
    config = processes.tmp_path / "c"
    config.mkdir(mode=0o700)
    # Port mapping off: a test never asks this machine's real router anything.
    (config / "config.toml").write_text("portmap = false\n")
    (config / "config.toml").chmod(0o600)
    return config


def test_nat_check_with_only_ipv6_servers_finds_ipv6_and_no_nat(processes):
    # Regression: "2 of 2 STUN servers answered", "NAT type: unknown", exit 1; a server
    # named twice was asked twice; a long label ran into its value.
    url = processes.server("--host", "::1")
    port = int(url.rsplit(":", 1)[1])
    check = processes.start(
        "nat-check", "--signal", f"tcp://[::1]:{port}", "--bind", "[::1]", "--stun", f"[::1]:{port}",
        "--config-dir", str(_nat_check_config(processes)),
    )
    lines = check.drain()
    assert check.wait() == 0, lines
    rows = dict(line.split(":", 1) for line in lines)
    assert rows["mapping"].strip() == "unknown (no IPv4 STUN server to ask)"
    assert rows["NAT type"].strip().startswith("IPv6 only: no NAT")
    servers = [line for line in lines if line.startswith("STUN ")]
    assert len(servers) == 2, servers  # the server's port and the next one, each once
    for line in servers:
        label, _, value = line.partition("]:")[2].partition(":")
        assert value.startswith(" ") and value.strip().endswith("ms"), line


def test_nat_check_from_an_ipv4_socket_does_not_ask_an_ipv6_server(processes):
    url = processes.server()
    check = processes.start(
        "nat-check", "--signal", url, "--bind", "127.0.0.1", "--stun", "[::1]:9",
        "--config-dir", str(_nat_check_config(processes)),
    )
    lines = check.drain()
    assert check.wait() == 0, lines
    assert any(line.startswith("STUN [::1]:9:") and line.endswith("not asked: the socket is IPv4") for line in lines)
    mapping = next(line for line in lines if line.startswith("mapping:"))
    assert "(2 of 2 IPv4 STUN servers answered)" in mapping


def test_a_chat_port_in_use_is_one_clear_error(processes):
    url = processes.server()
    port = url.rsplit(":", 1)[1]  # the server's own UDP port: taken
    pipe = processes.pipe("alice", "bob", url, "--bind", f"127.0.0.1:{port}")
    assert "cannot listen on" in pipe.event("error")["message"]
    assert pipe.wait() == 1  # the environment, not the user's input


def test_a_closed_stdout_ends_the_pipe_quietly(processes):
    """`p2ptui pipe ... | head -1`: no BrokenPipeError traceback; the exit status keeps its
    meaning (0: nothing sent is left undelivered)."""
    import subprocess

    from .processes import COMMAND

    url = processes.server()
    alice = subprocess.Popen(
        [*COMMAND, "pipe", "--name", "alice", "--peer", "bob", "--signal", url,
         "--config-dir", str(processes.tmp_path / "alice"), "--bind", "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert json.loads(alice.stdout.readline())["event"] == "ready"
        alice.stdout.close()  # What `head -1` does after its line.
        processes.pipe("bob", "alice", url)  # alice's "connected" now has no reader.
        assert alice.wait(timeout=30) == 0
        assert alice.stderr.read() == ""
    finally:
        if alice.poll() is None:
            alice.kill()
            alice.wait(timeout=10)
        alice.stdin.close()
        alice.stderr.close()


def test_a_peer_killed_and_back_at_once_is_a_disconnect_with_a_reason(processes):
    # Regression: `"reason": ""` when the peer was kill -9'd and started again.
    url = processes.server()
    alice = processes.pipe("alice", "bob", url)
    bob = processes.pipe("bob", "alice", url)
    alice.event("connected")
    bob.popen.kill()
    bob.popen.wait(timeout=10)
    processes.pipe("bob", "alice", url)
    disconnected = alice.event("disconnected", timeout=40)
    assert disconnected["peer"] == "bob" and disconnected["reason"]


def test_pipes_send_and_accept_a_file(processes, tmp_path):
    import hashlib

    data = os.urandom(1_500_000)
    (tmp_path / "report.pdf").write_bytes(data)
    inbox = tmp_path / "inbox"
    url = processes.server()
    bob = processes.pipe("bob", "alice", url, "--accept-files", str(inbox))
    alice = processes.pipe("alice", "bob", url)
    alice.event("connected")
    alice.send(f"/send {tmp_path / 'report.pdf'}")
    alice.send("//not a command")
    alice.send("/shrug")
    offered = bob.event("file-offered")
    assert (offered["peer"], offered["name"], offered["size"]) == ("alice", "report.pdf", len(data))
    received = bob.event("file-received")
    assert received["id"] == offered["id"] and received["sha256"] == hashlib.sha256(data).hexdigest()
    assert received["path"] == str((inbox / "report.pdf").resolve())
    assert (inbox / "report.pdf").read_bytes() == data
    assert bob.events_seen("file-progress")[-1]["bytes"] == len(data)
    messages = bob.events_seen("message") or [bob.event("message")]
    assert [m["text"] for m in messages] == ["/not a command"]  # "//" is the escape
    assert alice.event("file-sent") == {"event": "file-sent", "peer": "bob", "id": offered["id"]}
    errors = alice.events_seen("error") or [alice.event("error")]
    assert "unknown command /shrug" in errors[0]["message"]  # never sent as text
    alice.close_stdin()
    assert alice.wait() == 0


def test_a_receiving_pipe_killed_mid_file_resumes_when_started_again(processes, tmp_path):
    import hashlib

    data = os.urandom(24 * 2**20)
    (tmp_path / "big.bin").write_bytes(data)
    inbox = tmp_path / "inbox"
    url = processes.server()
    bob = processes.pipe("bob", "alice", url, "--accept-files", str(inbox))
    alice = processes.pipe("alice", "bob", url)
    alice.event("connected")
    alice.send(f"/send {tmp_path / 'big.bin'}")
    while bob.event("file-progress")["bytes"] == 0:
        pass
    bob.popen.kill()  # SIGKILL: no goodbye, the .part as the page cache has it
    bob.wait()
    had = (inbox / "big.bin.part").stat().st_size
    assert 0 < had < len(data)
    bob = processes.pipe("bob", "alice", url, "--accept-files", str(inbox))
    received = bob.event("file-received", timeout=60)
    assert received["sha256"] == hashlib.sha256(data).hexdigest()
    assert (inbox / "big.bin").read_bytes() == data and not (inbox / "big.bin.part").exists()
    assert bob.events_seen("file-progress")[0]["bytes"] >= had  # taken up from what was on disk
    assert alice.event("file-sent", timeout=30)["id"] == received["id"]


def test_a_sending_pipe_killed_mid_file_finishes_it_when_started_again(processes, tmp_path):
    import hashlib

    data = os.urandom(24 * 2**20)
    (tmp_path / "big.bin").write_bytes(data)
    inbox = tmp_path / "inbox"
    url = processes.server()
    bob = processes.pipe("bob", "alice", url, "--accept-files", str(inbox))
    alice = processes.pipe("alice", "bob", url)
    alice.event("connected")
    alice.send(f"/send {tmp_path / 'big.bin'}")
    while bob.event("file-progress")["bytes"] == 0:
        pass
    alice.popen.kill()
    alice.wait()
    alice = processes.pipe("alice", "bob", url)
    alice.close_stdin()  # its exit waits for the file an earlier run left unfinished
    received = bob.event("file-received", timeout=60)
    assert received["sha256"] == hashlib.sha256(data).hexdigest()
    assert alice.event("file-sent", timeout=30)["id"] == received["id"]
    assert alice.wait() == 0
