"""The downloads directory: hostile names, no overwriting, nothing outside it, big offsets."""

import os
import stat

import pytest

from p2ptui.net import EnvironmentFailure
from p2ptui.net.transfer import disk
from p2ptui.net.transfer.disk import Downloads, safe_name


@pytest.mark.parametrize(
    "offered",
    ["../../etc/passwd", "a\x1b[2Jb", "\u202egnp.exe", "x" * 10_000, "", ".", "..", "/", "a\\..\\b", "-rf *",
     "\x00hidden", "..\u200b.", " .bashrc", "e\u0301t\u00e9\u2066.txt"],
)
def test_a_hostile_name_becomes_one_plain_safe_component(offered):
    name = safe_name(offered)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and not name.startswith((".", "-"))
    assert len(name) <= disk.MAX_NAME_CHARS
    assert all(ch.isprintable() for ch in name), name
    assert not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in name)


def test_names_keep_what_is_harmless():
    assert safe_name("a\x1b[2Jb") == "ab"  # the whole escape sequence goes, not only ESC
    assert safe_name("") == safe_name("..") == "file"
    assert safe_name("holiday photo.jpg") == "holiday photo.jpg"
    assert safe_name("\u202egnp.exe") == "gnp.exe"  # the RTL override cannot disguise it
    long = safe_name("y" * 500 + ".tar.gz")
    assert len(long) == disk.MAX_NAME_CHARS and long.endswith("y.gz")


def test_a_new_part_never_overwrites_and_is_private(tmp_path):
    downloads = Downloads(tmp_path)
    (tmp_path / "report.pdf").write_text("the user's own")
    chosen, fd = downloads.create_part("report.pdf")
    os.close(fd)
    assert chosen == "report (1).pdf"
    part = tmp_path / "report (1).pdf.part"
    assert stat.S_IMODE(part.stat().st_mode) == 0o600
    again, fd = downloads.create_part("report.pdf")  # its .part counts as taken
    os.close(fd)
    assert again == "report (2).pdf"
    assert (tmp_path / "report.pdf").read_text() == "the user's own"


def test_finishing_links_to_a_free_name_and_removes_the_part(tmp_path):
    downloads = Downloads(tmp_path)
    chosen, fd = downloads.create_part("a.txt")
    disk.write_at(fd, b"hello", 0)
    os.close(fd)
    (tmp_path / "a.txt").write_text("appeared meanwhile")
    final = downloads.finish(chosen)
    assert final == tmp_path / "a (1).txt" and final.read_bytes() == b"hello"
    assert (tmp_path / "a.txt").read_text() == "appeared meanwhile"
    assert not (tmp_path / "a.txt.part").exists()


def test_a_symlink_planted_as_the_part_is_refused_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("precious")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    downloads = Downloads(inbox)
    (inbox / "x.part").symlink_to(outside)
    with pytest.raises(EnvironmentFailure, match="symlink"):
        downloads.open_part("x")
    assert downloads.part_size("x") == 0  # a symlink is no .part of ours
    chosen, fd = downloads.create_part("x")  # the name is taken: another one
    os.close(fd)
    assert chosen == "x (1)" and outside.read_text() == "precious"


def test_nothing_but_one_plain_component_is_ever_joined(tmp_path):
    downloads = Downloads(tmp_path)
    for bad in ("", ".", "..", "../x", "a/b"):
        with pytest.raises(EnvironmentFailure):
            downloads.inside(bad)


def test_offsets_past_4_gib_in_a_sparse_part(tmp_path):
    downloads = Downloads(tmp_path)
    chosen, fd = downloads.create_part("big.bin")
    os.ftruncate(fd, 5 * 2**30)  # sparse: nothing written
    disk.write_at(fd, b"tail", 5 * 2**30 - 4)
    os.close(fd)
    assert downloads.part_size(chosen) == 5 * 2**30
    with open(tmp_path / "big.bin.part", "rb") as file:
        file.seek(5 * 2**30 - 4)
        assert file.read() == b"tail"
    digest = disk.hash_file(tmp_path / "big.bin.part", 4096)  # a prefix only: no 5 GiB to read
    assert digest.hexdigest() == __import__("hashlib").sha256(b"\0" * 4096).hexdigest()


def test_a_downloads_path_that_is_a_file_is_an_environment_failure(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(EnvironmentFailure):
        Downloads(tmp_path / "f")
