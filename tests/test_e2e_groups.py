"""Groups end to end: real `p2ptui pipe` processes on loopback (the NAT lab runs the same
scenario behind four NATs: tests/test_lab_groups.py)."""

import pytest

from . import groupscenario
from .processes import Processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def test_four_pipes_one_away_and_an_author_gone_every_log_the_same(processes, tmp_path):
    url = processes.server()

    def start(name, *args):
        return processes.start(
            "pipe", "--name", name, "--signal", url, "--config-dir", str(tmp_path / name),
            "--bind", "127.0.0.1", *args,
        )

    logs = groupscenario.run(start, ["alice", "bob", "carol", "dave"])
    assert len(logs["alice"]) == 7


def test_a_pipe_without_peer_or_group_is_a_usage_error(processes, tmp_path):
    process = processes.start("pipe", "--name", "alice", "--config-dir", str(tmp_path / "a"))
    assert process.wait() == 2
