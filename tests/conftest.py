"""Fixtures shared by the test modules."""

import os
import uuid

import pytest

from .firestore import running_emulator


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
