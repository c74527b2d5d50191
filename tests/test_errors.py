"""Errors reach the user whole, readable at 80x24, with what to do, and stay findable
(issue 14 point 4, issue 13 point 3): in the TUI, in `pipe` and on the command line.

A UDP port in use, an unreachable signalling server and a bad config each give
the same one line in all three. The TUI shows it whole in a toast, keeps it in
the log, and the header a short form; pipe emits one error event; the command
line prints one line on stderr. No traceback anywhere but the log file.
"""

from __future__ import annotations

import queue
import socket
import subprocess

import pytest

from p2ptui.core_thread import CoreStopped, CoreThread
from p2ptui.net import (
    ConfigError,
    EnvironmentFailure,
    Identity,
    NodeConfig,
    PeerStatus,
    describe,
    events,
    exit_code,
    open_node,
)

from .fakecore import FakeCore, connected, make_app, notified
from .processes import Processes, free_port
from .test_app import log_text, sidebar_text

CANNOT_REACH = "cannot reach the signalling server at tcp://127.0.0.1:7878: all attempts to connect failed"


def header(app) -> str:
    return str(app.query_one("#status").render())


# --- The one line -------------------------------------------------------------------------


def test_the_line_and_the_exit_status_come_from_inside_exception_groups():
    group = ExceptionGroup(
        "Exceptions from Trio nursery (1 sub-exception)", [EnvironmentFailure("port 7000 is in use")]
    )
    assert describe(group) == "port 7000 is in use" and exit_code(group) == 1
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [ConfigError("bad keepalive")])])
    assert describe(nested) == "bad keepalive" and exit_code(nested) == 2
    # Anything untyped is a bug: said as one, its traceback for the log.
    bare = ExceptionGroup("g", [ValueError("struct unpacking failed")])
    assert describe(bare).startswith("internal error: ValueError") and exit_code(bare) == 1
    assert describe(KeyError("x")).startswith("internal error: KeyError")


# --- The TUI --------------------------------------------------------------------------------

pytestmark_asyncio = pytest.mark.asyncio


@pytestmark_asyncio
async def test_an_unreachable_server_is_told_whole_once_kept_in_the_log_and_marks_nobody_offline():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(connected("alice", 51000), events.PeerChanged("bob", PeerStatus.OFFLINE))
        await pilot.pause()
        core.emit(events.SignalStatus(False, CANNOT_REACH), events.SignalStatus(False, CANNOT_REACH))
        await pilot.pause()
        said = [text for text in notified(app) if "cannot reach" in text]
        assert len(said) == 1  # once, not at every retry
        assert CANNOT_REACH in said[0] and "p2ptui signal-server" in said[0]
        # Kept in the log of the conversation shown, whole.
        assert CANNOT_REACH in " ".join(log_text(app).split())
        # The header keeps a short form, cut after a word.
        short = header(app).split(" · ")[-1]
        assert short.startswith("⚠ cannot reach the") and short.endswith("…")
        assert short[:-1].split()[-1] in CANNOT_REACH.split()  # cut after a whole word
        # bob's presence is not known while the server does not answer; alice's path is direct and stays.
        rows = sidebar_text(app).splitlines()
        assert "? bob" in next(row for row in rows if "bob" in row)
        assert "● alice" in next(row for row in rows if "alice" in row)
        core.emit(events.SignalStatus(True))
        await pilot.pause()
        assert "○ bob" in next(row for row in sidebar_text(app).splitlines() if "bob" in row)
        assert "⚠" not in header(app)


@pytestmark_asyncio
async def test_a_taken_name_says_to_pick_another():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.SignalStatus(False, "the name 'dana' is taken by another key", fatal=True))
        await pilot.pause()
        assert any("taken" in text and "--name" in text for text in notified(app))
        # Nothing works until the user acts: the toast stays, and the header stops saying "connecting".
        assert all(n.timeout >= 3600 for n in app._notifications if "taken" in n.message)
        header = str(app.query_one("#status").render())
        assert "not connected" in header and "connecting" not in header


@pytestmark_asyncio
async def test_a_message_for_another_conversation_never_toasts_over_a_dialog():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")  # any dialog
        core.emit(events.MessageReceived("alice", "01" * 8, "hello"))
        await pilot.pause()
        assert not any("hello" in text for text in notified(app))
        assert "(1)" in sidebar_text(app)  # counted all the same


@pytestmark_asyncio
async def test_a_peers_error_goes_to_its_own_conversation():
    core = FakeCore()
    app = make_app(core, peers=("alice", "bob"))
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(events.Error("not sent to alice: the network core is busy", peer="alice"))
        await pilot.pause()
        assert "busy" not in log_text(app)  # bob is shown
        await pilot.press("alt+1")
        assert "not sent to alice: the network core is busy" in " ".join(log_text(app).split())


@pytestmark_asyncio
async def test_a_core_that_stopped_says_why_and_the_command_line_repeats_it():
    core = FakeCore()
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        core.emit(CoreStopped("cannot listen on 127.0.0.1:7000: Address already in use", 1))
        await pilot.pause()
        assert any("cannot listen on 127.0.0.1:7000: Address already in use" in text for text in notified(app))
        assert app.fatal is not None and app.fatal.exit_code == 1


def run_core(config: NodeConfig, identity: Identity, wanted) -> object:
    """The TUI's real bridge with a real node: the first event it posts that `wanted` accepts."""
    posted: queue.Queue = queue.Queue()
    core = CoreThread(lambda: open_node(config, identity))
    core.start(posted.put)
    try:
        while True:
            event = posted.get(timeout=20)
            if wanted(event):
                return event
    finally:
        core.stop()


# --- The same line in the TUI, pipe and the command line, from real processes -------------------


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        yield taken.getsockname()[1]


def pipe_line(processes, *args) -> tuple[str, int]:
    pipe = processes.start("pipe", "--peer", "bob", "--name", "alice", *args, stdin=subprocess.DEVNULL)
    return pipe.event("error")["message"], pipe.wait()


def cli_line(processes, *args) -> tuple[list[str], int]:
    ping = processes.start("ping", "bob", "--name", "alice", *args, stdin=subprocess.DEVNULL)
    output = list(iter(ping.line, None))
    return output, ping.wait()


@pytest.mark.e2e
def test_a_port_in_use_is_the_same_line_in_the_tui_pipe_and_command_line(processes, tmp_path, taken_port):
    args = ["--config-dir", str(tmp_path / "a"), "--bind", f"127.0.0.1:{taken_port}", "--signal", "tcp://127.0.0.1:9"]
    piped, pipe_status = pipe_line(processes, *args)
    printed, cli_status = cli_line(processes, *args)
    assert printed == [f"p2ptui: error: {piped}"] and "Traceback" not in piped
    assert f"127.0.0.1:{taken_port}" in piped and "in use" in piped
    stopped = run_core(
        NodeConfig("alice", "tcp://127.0.0.1:9", bind=("127.0.0.1", taken_port), state_dir=tmp_path / "tui"),
        Identity.generate(),
        lambda event: isinstance(event, CoreStopped),
    )
    assert stopped.message == piped
    assert pipe_status == cli_status == stopped.exit_code


@pytest.mark.e2e
def test_an_unreachable_server_is_the_same_line_in_the_tui_pipe_and_command_line(processes, tmp_path):
    url = f"tcp://127.0.0.1:{free_port()}"
    args = ["--config-dir", str(tmp_path / "a"), "--bind", "127.0.0.1", "--signal", url]
    piped, pipe_status = pipe_line(processes, *args)
    printed, cli_status = cli_line(processes, *args)
    assert piped.startswith(f"cannot reach the signalling server at {url}") and "p2ptui signal-server" in piped
    assert printed == [f"p2ptui: error: {piped}"]
    assert pipe_status == cli_status == 1
    lost = run_core(
        NodeConfig("alice", url, bind=("127.0.0.1", 0), state_dir=tmp_path / "tui"),
        Identity.generate(),
        lambda event: isinstance(event, events.SignalStatus) and not event.connected,
    )
    from p2ptui.errors import signalling_advice

    assert signalling_advice(lost.message) == piped  # what the TUI shows, before "(trying again)"


@pytest.mark.e2e
def test_a_bad_config_is_the_same_line_in_the_tui_pipe_and_command_line(processes, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.toml").write_text('keepalive = "often"\n')
    args = ["--config-dir", str(tmp_path / "a"), "--bind", "127.0.0.1"]
    piped, pipe_status = pipe_line(processes, *args)
    printed, cli_status = cli_line(processes, *args)
    tui = processes.start(*args, stdin=subprocess.DEVNULL)  # the TUI checks its settings before drawing
    tui_output = list(iter(tui.line, None))
    assert "bad keepalive 'often'" in piped
    assert printed == tui_output == [f"p2ptui: error: {piped}"]
    assert pipe_status == cli_status == tui.wait() == 2
