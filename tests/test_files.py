"""Nobody else on the machine reads the config directory: 0700, every file 0600 (issue 15, point 9).

What p2ptui writes under a loose umask (022, the common default) is checked
with os.stat; a directory an older version left readable is fixed on start,
said once; a key others can read is refused, as ssh does.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from p2ptui.net import ConfigError, Identity, KnownPeers, make_private, private_file, update_config_file
from p2ptui.net.store import MessageStore
from p2ptui.remembered import save

from .processes import COMMAND

BOB = Identity.generate().public_key


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def fingerprint(config_dir: Path) -> subprocess.CompletedProcess:
    """`p2ptui fingerprint`, a real start-up, under the common umask 022."""
    return subprocess.run(
        [*COMMAND, "fingerprint", "--config-dir", str(config_dir), "--name", "alice"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_everything_p2ptui_writes_is_private_even_under_a_loose_umask(tmp_path, loose_umask):
    directory = tmp_path / "config" / "p2ptui"
    Identity.load_or_create(directory)
    store = MessageStore(directory)
    store.queue("bob", "00" * 8, "hello")  # SQLite makes its -wal and -shm now.
    store.received("bob", "11" * 8, "hi")
    KnownPeers(directory).check("bob", BOB)
    save(directory, ["bob"])
    update_config_file(directory, theme="textual-light")
    private_file(directory / "p2ptui.log")
    handler = logging.FileHandler(directory / "p2ptui.log")  # As the TUI's log opens it.
    handler.close()

    names = sorted(path.name for path in directory.iterdir())
    assert {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm", "identity.key", "known_peers",
            "conversations", "config.toml", "p2ptui.log"} <= set(names)  # fmt: skip
    assert mode(directory) == 0o700
    assert {name: mode(directory / name) for name in names} == {name: 0o600 for name in names}
    store.close()


def test_a_directory_left_readable_is_fixed_on_start_and_said_once(tmp_path):
    directory = tmp_path / "p2ptui"
    Identity.load_or_create(directory)
    MessageStore(directory).close()
    KnownPeers(directory).check("bob", BOB)
    os.chmod(directory, 0o755)  # As older versions left it.
    for name in ("history.sqlite3", "known_peers"):
        os.chmod(directory / name, 0o644)

    first = fingerprint(directory)
    assert first.returncode == 0, first.stderr
    warnings = first.stderr.splitlines()
    assert len(warnings) == 1 and "warning: other users could read your p2ptui files" in warnings[0]
    assert "history.sqlite3 was mode 0644; made it 0600" in warnings[0]
    assert mode(directory) == 0o700
    assert mode(directory / "history.sqlite3") == mode(directory / "known_peers") == 0o600

    again = fingerprint(directory)
    assert again.returncode == 0 and again.stderr == ""


def test_a_key_others_can_read_is_refused_with_the_chmod_to_run(tmp_path):
    directory = tmp_path / "p2ptui"
    Identity.load_or_create(directory)
    key = directory / "identity.key"
    os.chmod(key, 0o644)

    done = fingerprint(directory)
    assert done.returncode == 2  # The user's own file to put right, as a bad config.toml is.
    assert f"chmod 600 {key}" in done.stderr and "Traceback" not in done.stderr
    assert mode(key) == 0o644  # Not fixed behind the user's back: it may have been copied.

    with pytest.raises(ConfigError, match="other users can read your private key"):
        Identity.load_or_create(directory)
    os.chmod(key, 0o600)
    assert fingerprint(directory).returncode == 0


def test_symlinks_and_subdirectories_are_left_alone(tmp_path):
    directory = tmp_path / "p2ptui"
    directory.mkdir(mode=0o700)
    target = tmp_path / "dotfiles-config.toml"
    target.write_text('theme = "textual-light"\n')
    os.chmod(target, 0o644)
    (directory / "config.toml").symlink_to(target)
    (directory / "backup").mkdir(mode=0o755)
    assert make_private(directory) == []
    assert mode(target) == 0o644 and mode(directory / "backup") == 0o755
