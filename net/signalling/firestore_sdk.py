"""Our documents in a Firestore project, through the synchronous firebase-admin SDK.

Every method here blocks: firestore.py calls them in trio worker threads.
The data model is firestore.py's docstring.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..identity import Identity

PEERS = "peers"
OFFERS = "offers"
CALL_TIMEOUT = 10.0
# One try per SDK call, with a deadline. Without retry=None the SDK retries for
# about a minute, whatever the timeout; this client retries by itself, with
# back-off, and meanwhile tells the user the service is unreachable.
_ONCE: dict[str, Any] = {"retry": None, "timeout": CALL_TIMEOUT}

#: Makes a listener's callback: (listener kind, document id) -> on_snapshot.
Callback = Callable[[str, str], Callable[[Any, Any, Any], None]]


class NameTaken(Exception):
    """Our name is registered to another key."""


def server_timestamp() -> Any:
    from firebase_admin import firestore

    return firestore.SERVER_TIMESTAMP


def _anonymous_credentials() -> Any:
    import google.auth.credentials
    from firebase_admin import credentials

    class Anonymous(credentials.Base):  # type: ignore[misc]  # The SDK is untyped.
        """For an emulator, which wants no credentials (but the SDK wants an object)."""

        def get_credential(self) -> Any:
            return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]

    return Anonymous()


class Documents:
    """Our presence document and our listeners, in one project."""

    def __init__(self, project: str, name: str, identity: Identity, credentials_file: str | None) -> None:
        self._project = project
        self._name = name
        self._identity = identity
        self._credentials_file = credentials_file
        self.db: Any = None
        self._app: Any = None
        #: Our address, as presence shows it.
        self.address = ""
        self.registered = False

    def open(self) -> None:
        import firebase_admin
        from firebase_admin import credentials, firestore

        if os.environ.get("FIRESTORE_EMULATOR_HOST"):
            credential = _anonymous_credentials()
        elif self._credentials_file:
            credential = credentials.Certificate(self._credentials_file)
        else:
            credential = credentials.ApplicationDefault()
        # A named app per client, so several clients can live in one process.
        self._app = firebase_admin.initialize_app(
            credential, {"projectId": self._project}, name=f"p2ptui-{uuid.uuid4().hex}"
        )
        self.db = firestore.client(self._app)

    def presence_data(self, online: bool) -> dict[str, Any]:
        return {
            "name": self._name,
            "key": self._identity.public_key,
            "address": self.address,
            "online": online,
            "last_seen": time.time(),
            "updated": server_timestamp(),
        }

    def register(self) -> None:
        from firebase_admin import firestore

        ref = self.db.collection(PEERS).document(self._name)

        @firestore.transactional  # type: ignore[untyped-decorator]  # The SDK is untyped.
        def claim(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction, **_ONCE)
            existing = snapshot.to_dict() if snapshot.exists else None
            if existing and existing.get("key") != self._identity.public_key:
                raise NameTaken(f"the name {self._name!r} is taken by another key")
            transaction.set(ref, self.presence_data(online=True))

        claim(self.db.transaction())
        self.registered = True

    def refresh_presence(self) -> None:
        # A merge-set (not update), so presence comes back after the store lost it.
        ref = self.db.collection(PEERS).document(self._name)
        ref.set(self.presence_data(online=True), merge=True, **_ONCE)

    def mark_offline(self) -> None:
        # Only a name we registered, and update() (which needs the document to
        # exist): never create a keyless document that would lock the name.
        if not self.registered:
            return
        ref = self.db.collection(PEERS).document(self._name)
        ref.update({"online": False, "updated": server_timestamp()}, **_ONCE)

    def listen(self, key: str, callback: Callback) -> Any:
        """Start a listener: "offers-in", "offers-out" or "presence:NAME"; its
        snapshots go to callback(listener kind, document id)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        if key.startswith("presence:"):
            name = key.split(":", 1)[1]
            return self.db.collection(PEERS).document(name).on_snapshot(callback("presence", name))
        field = "receiver" if key == "offers-in" else "sender"
        query = self.db.collection(OFFERS).where(filter=FieldFilter(field, "==", self._name))
        return query.on_snapshot(callback(key, ""))

    def close(self, listeners: list[Any]) -> None:
        """Stop listeners, mark us offline, and let the SDK's app go."""
        import firebase_admin

        for listener in listeners:
            listener.unsubscribe()
        try:
            self.mark_offline()
        finally:
            firebase_admin.delete_app(self._app)
