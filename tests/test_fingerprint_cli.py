"""`p2ptui fingerprint [--qr] [PEER]` as a real process: what a user reads over SSH."""

import os
import subprocess

import pytest

from p2ptui.net import Identity, KnownPeers, fingerprint, format_safety_number, safety_number
from p2ptui.qr import qr_lines

from .processes import COMMAND

pytestmark = pytest.mark.e2e

BOB = Identity.generate().public_key


def run(config_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, "fingerprint", *args, "--config-dir", str(config_dir), "--name", "alice"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": ""},
    )


@pytest.fixture
def config_dir(tmp_path):
    KnownPeers(tmp_path).check("bob", BOB)
    return tmp_path


def test_without_qr_the_output_is_as_before(config_dir):
    done = run(config_dir)
    mine = Identity.load_or_create(config_dir).public_key
    assert done.returncode == 0 and done.stdout == f"alice  {fingerprint(mine)}\n"
    peer = run(config_dir, "bob")
    assert peer.returncode == 0 and peer.stdout == f"bob  {fingerprint(BOB)}\n"


def test_qr_with_a_peer_prints_the_safety_number_and_its_code(config_dir):
    done = run(config_dir, "--qr", "bob")
    assert done.returncode == 0, done.stderr
    mine = Identity.load_or_create(config_dir).public_key
    number = safety_number("alice", mine, "bob", BOB)
    lines = done.stdout.splitlines()
    assert lines[0] == "Safety number of alice and bob:"
    assert lines[1:4] == format_safety_number(number, per_line=4).splitlines()
    assert lines[4].startswith("Not verified yet: compare it with bob's")
    assert lines[-17:] == qr_lines(number, border=4)  # into a pipe: no escape sequences
    assert max(len(line) for line in lines) <= 80 and len(lines) <= 24  # one 80x24 screen


def test_qr_says_when_the_peer_is_verified_or_lost_it(config_dir):
    KnownPeers(config_dir).mark_verified("bob", BOB)
    assert "bob is verified" in run(config_dir, "--qr", "bob").stdout
    KnownPeers(config_dir).pin("bob", Identity.generate().public_key)
    assert "WARNING: bob's key changed after you verified it" in run(config_dir, "--qr", "bob").stdout


def test_qr_without_a_peer_is_your_fingerprint_and_its_code(config_dir):
    done = run(config_dir, "--qr")
    mine = fingerprint(Identity.load_or_create(config_dir).public_key)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[0] == f"alice  {mine}"
    assert lines[2:] == qr_lines(mine, border=4)


def test_a_peer_with_no_pinned_key_is_a_clear_error(config_dir):
    done = run(config_dir, "--qr", "carol")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "p2ptui: error: no key pinned for carol yet: talk to them first"
    bad = run(config_dir, "--qr", "not a name")
    assert bad.returncode == 2 and "invalid name" in bad.stderr and "Traceback" not in bad.stderr
