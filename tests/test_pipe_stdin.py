"""pipe's stdin: lines split from bytes as they come, and a burst stored together."""

import pytest

from p2ptui.net import ConfigError
from p2ptui.pipe import PipeOptions, _Pipe
from p2ptui.pipe_stdin import LineSplitter


def test_lines_cut_between_reads_wait_for_their_end():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o\r\nthree") == ["two"]  # \r\n as \n, as text mode did
    assert splitter.end() == ["three"]  # the last line needs no line ending
    assert splitter.end() == []


def test_a_character_cut_between_reads_and_bad_utf8_never_raise():
    splitter = LineSplitter()
    euro = "€".encode()
    assert splitter.feed(b"a" + euro[:1]) == []
    assert splitter.feed(euro[1:] + b"\n\xff\xfe bad\n") == ["a€", "\ufffd\ufffd bad"]
    assert splitter.feed(b"\n\n") == ["", ""]


class _Node:
    """What the pipe calls on the node, recorded in order."""

    def __init__(self, refuse: str = ""):
        self.calls: list[tuple] = []
        self.refuse = refuse

    def send_many(self, peer, texts):
        if self.refuse in texts:
            raise ConfigError("a refused text")
        self.calls.append(("send_many", peer, list(texts)))
        return [f"{len(self.calls):02d}{n:014d}" for n in range(len(texts))]

    def send(self, peer, text, message_id=None):
        if text == self.refuse:
            raise ConfigError("a refused text")
        self.calls.append(("send", peer, text))
        return f"{len(self.calls):016d}"


class _Files:
    def __init__(self, node):
        self.node = node

    def send(self, path):
        self.node.calls.append(("send_file", path))


@pytest.mark.trio
async def test_a_burst_of_texts_is_one_send_many_in_order_with_the_commands_between(capsys):
    node = _Node()
    pipe = _Pipe(node, PipeOptions("bob"))
    pipe.files = _Files(node)
    pipe.take(["a", "b", "", "//c", "/send f.txt", "d", "/nope", "e"], nursery=None)
    assert node.calls == [
        ("send_many", "bob", ["a", "b", "/c"]),
        ("send_file", "f.txt"),
        ("send_many", "bob", ["d"]),
        ("send_many", "bob", ["e"]),
    ]
    out = capsys.readouterr().out
    assert out.count('"event": "sent"') == 5 and '"event": "error"' in out
    assert len(pipe.undelivered) == 5


@pytest.mark.trio
async def test_a_refused_burst_goes_line_by_line_so_only_the_bad_one_fails(capsys):
    node = _Node(refuse="bad")
    pipe = _Pipe(node, PipeOptions("bob"))
    pipe.take(["ok 1", "bad", "ok 2"], nursery=None)
    assert node.calls == [("send", "bob", "ok 1"), ("send", "bob", "ok 2")]
    out = capsys.readouterr().out
    assert out.count('"event": "sent"') == 2 and "not sent: a refused text" in out
