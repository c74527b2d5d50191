"""Pinned keys and their verification in known_peers: kept across restarts,
readable as before, and never lost or loosened by a damaged file."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2ptui.net import ConfigError, EnvironmentFailure
from p2ptui.net.trust import FILE_NAME, KnownPeers, Verdict, Verification

BOB, NEW_BOB, CAROL = "ab" * 32, "cd" * 32, "ef" * 32


def lines(directory) -> list[str]:
    return [line for line in (directory / FILE_NAME).read_text().splitlines() if not line.startswith("#")]


def test_a_file_from_before_verification_reads_as_pinned_and_unverified(tmp_path):
    (tmp_path / FILE_NAME).write_text(f"# p2ptui: peers' keys, pinned when first seen\nbob {BOB}\ncarol {CAROL}\n")
    known = KnownPeers(tmp_path)
    assert known.pinned("bob") == BOB and known.pinned("carol") == CAROL
    assert known.verification("bob") == Verification.UNVERIFIED and not known.is_verified("bob")
    assert known.check("bob", BOB) == Verdict.KNOWN


def test_verification_is_for_the_pinned_key_and_survives_a_restart(tmp_path):
    known = KnownPeers(tmp_path)
    known.check("bob", BOB)
    known.mark_verified("bob", BOB)
    assert known.is_verified("bob")
    again = KnownPeers(tmp_path)
    assert again.is_verified("bob") and again.pinned("bob") == BOB
    assert lines(tmp_path) == [f"bob {BOB} verified"]


def test_verifying_needs_the_pinned_key(tmp_path):
    known = KnownPeers(tmp_path)
    with pytest.raises(ConfigError, match="no key pinned for bob"):
        known.mark_verified("bob", BOB)
    known.check("bob", BOB)
    with pytest.raises(ConfigError, match="not the one you compared"):
        known.mark_verified("bob", NEW_BOB)  # the number shown was made with another key
    assert not KnownPeers(tmp_path).is_verified("bob")


def test_a_verified_peers_new_key_is_unverified_and_marked_as_lost_until_checked_again(tmp_path):
    known = KnownPeers(tmp_path)
    known.check("bob", BOB)
    known.mark_verified("bob", BOB)
    assert known.check("bob", NEW_BOB) == Verdict.CHANGED
    assert known.is_verified("bob")  # seeing a new key changes nothing until it is accepted
    known.pin("bob", NEW_BOB)  # the user accepted it
    assert known.verification("bob") == Verification.LOST and not known.is_verified("bob")
    assert KnownPeers(tmp_path).verification("bob") == Verification.LOST  # kept on disk
    known.pin("bob", CAROL)  # another unchecked change: still lost, not merely unverified
    assert known.verification("bob") == Verification.LOST
    known.mark_verified("bob", CAROL)
    assert KnownPeers(tmp_path).verification("bob") == Verification.VERIFIED


def test_an_unverified_peers_new_key_is_just_unverified(tmp_path):
    known = KnownPeers(tmp_path)
    known.check("bob", BOB)
    known.pin("bob", NEW_BOB)
    assert known.verification("bob") == Verification.UNVERIFIED
    known.pin("bob", NEW_BOB)  # the same key again changes nothing
    assert lines(tmp_path) == [f"bob {NEW_BOB}"]


def test_lines_that_do_not_parse_are_kept_and_their_names_stay_blocked(tmp_path):
    garbled = [
        "bob not-a-key",
        f"carol {CAROL} verified and-more",
        f"dave {BOB} trusted",
        "erin",
    ]
    (tmp_path / FILE_NAME).write_text("\n".join([f"alice {BOB} verified", *garbled]) + "\n")
    known = KnownPeers(tmp_path)
    assert known.is_verified("alice")  # a good line beside bad ones still counts
    for name in ("bob", "carol", "dave", "erin"):
        assert known.pinned(name) is None
        assert known.verification(name) == Verification.UNVERIFIED
        # Never pinned silently as a first key: whatever key shows up has to be accepted.
        assert known.check(name, NEW_BOB) == Verdict.CHANGED
    known.pin("frank", CAROL)  # a rewrite keeps every line it could not read
    assert sorted(lines(tmp_path)) == sorted([f"alice {BOB} verified", f"frank {CAROL}", *garbled])
    known.pin("bob", NEW_BOB)  # the user accepts a key for a blocked name
    assert KnownPeers(tmp_path).pinned("bob") == NEW_BOB
    assert "bob not-a-key" not in lines(tmp_path)


def test_two_different_keys_for_one_name_block_it_and_both_lines_are_kept(tmp_path):
    (tmp_path / FILE_NAME).write_text(f"bob {BOB} verified\nbob {NEW_BOB}\n")
    known = KnownPeers(tmp_path)
    assert known.pinned("bob") is None and known.check("bob", BOB) == Verdict.CHANGED
    known.pin("carol", CAROL)
    assert set(lines(tmp_path)) == {f"bob {BOB} verified", f"bob {NEW_BOB}", f"carol {CAROL}"}


def test_the_same_key_twice_keeps_the_warning(tmp_path):
    (tmp_path / FILE_NAME).write_text(f"bob {BOB} verified\nbob {BOB} verification-lost\n")
    assert KnownPeers(tmp_path).verification("bob") == Verification.LOST


def test_bytes_that_are_not_text_survive_a_rewrite(tmp_path):
    junk = b"\xff\xfe\x00bob \x1b[31m\xc3"
    (tmp_path / FILE_NAME).write_bytes(junk + b"\n" + f"carol {CAROL}\r\n".encode())
    known = KnownPeers(tmp_path)
    assert known.pinned("carol") == CAROL  # a CRLF line still reads
    known.pin("dave", BOB)
    assert junk in (tmp_path / FILE_NAME).read_bytes()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_file_at_all_loads_without_crashing_and_keeps_every_entry(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("hostile")
    (directory / FILE_NAME).write_bytes(data)
    known = KnownPeers(directory)
    known.pin("zed", CAROL)  # forces a rewrite
    again = KnownPeers(directory)
    assert again.pinned("zed") == CAROL
    written = (directory / FILE_NAME).read_bytes().decode("utf-8", "surrogateescape")
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        fields = line.split()
        if fields and not fields[0].startswith("#") and fields[0] != "zed":
            # Either read as a pin, or written back exactly as it was.
            assert again.pinned(fields[0]) is not None or line.rstrip("\r") in written


def test_a_file_that_cannot_be_read_is_an_error_and_is_not_overwritten(tmp_path):
    (tmp_path / FILE_NAME).mkdir()  # a directory where the file should be
    with pytest.raises(ConfigError, match="cannot read"):
        KnownPeers(tmp_path)


def test_a_failed_write_changes_nothing(tmp_path):
    directory = tmp_path / "config"
    known = KnownPeers(directory)
    known.check("bob", BOB)
    break_directory(directory)
    with pytest.raises(EnvironmentFailure, match="cannot write"):
        known.mark_verified("bob", BOB)
    assert not known.is_verified("bob")


def break_directory(directory):
    """Put a file where the directory was: writing fails, even for root."""
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    directory.write_text("a file where the config directory was")


def test_writes_leave_no_temporary_files(tmp_path):
    known = KnownPeers(tmp_path)
    for n in range(5):
        known.pin(f"peer{n}", BOB)
    # The file, and the lock that one writer at a time takes beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{FILE_NAME}.lock", FILE_NAME]


def test_two_processes_on_one_directory_lose_nothing_of_each_other(tmp_path):
    one, other = KnownPeers(tmp_path), KnownPeers(tmp_path)  # e.g. the TUI and a pipe bot
    one.check("bob", BOB)
    other.check("carol", "cd" * 32)
    other.mark_verified("carol", "cd" * 32)
    one.pin("dave", "ef" * 32)
    again = KnownPeers(tmp_path)
    assert again.pinned("bob") == BOB and again.pinned("dave") == "ef" * 32
    assert again.is_verified("carol")


def test_a_first_key_that_cannot_be_saved_is_pinned_for_this_run(tmp_path):
    directory = tmp_path / "config"
    known = KnownPeers(directory)
    directory.mkdir()
    break_directory(directory)  # A disk gone read-only, or full, say.
    with pytest.raises(EnvironmentFailure, match="cannot write"):
        known.check("bob", BOB)
    assert known.check("bob", BOB) == Verdict.KNOWN
    assert known.check("bob", "cd" * 32) == Verdict.CHANGED


def test_in_memory_only_without_a_directory():
    known = KnownPeers()
    known.check("bob", BOB)
    known.mark_verified("bob", BOB)
    assert known.is_verified("bob")
