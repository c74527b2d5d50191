"""Fixtures shared by the test modules."""

import os
import uuid

import pytest

from .firestore import running_emulator


@pytest.fixture(scope="session", autouse=True)
def _no_writes_to_the_users_data_directory(tmp_path_factory):
    """Whatever a test starts that would keep data in the user's data directory
    (the server's names file, say) keeps it here instead, for this run only."""
    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if saved is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = saved


@pytest.fixture(scope="session")
def firestore_host():
    """host:port of a Firestore emulator for the whole session; FIRESTORE_EMULATOR_HOST wins."""
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        yield os.environ["FIRESTORE_EMULATOR_HOST"]
        return
    with running_emulator() as host:
        yield host


@pytest.fixture
def firestore_url(firestore_host, monkeypatch):
    """A firestore:// URL with a project of its own, so tests never see each other's data."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    return f"firestore://test-{uuid.uuid4().hex[:12]}"
