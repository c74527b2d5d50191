"""The watched peers' presence, as Firestore's listeners show it, free of I/O.

Split from firestore.py (which grew past 400 lines): the client moves the
documents; this part keeps the latest presence document of each peer, when it
last changed by our own clock, and what the node was last told, and says what
to tell it next. A presence is fresh by our clock (when the document last
changed here), never by the peer's `last_seen`, which is its clock and may be
wrong either way; one older than `timeout` shows as offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .messages import Presence, SignallingDataError


class PresenceBook:
    """The presence of the peers we watch. Not thread-safe: trio's side only."""

    def __init__(self, timeout: float, skip: Callable[[str], None]) -> None:
        self._timeout = timeout
        #: Counts a presence document that did not validate.
        self._skip = skip
        #: The peers the node asked to watch.
        self.watching: set[str] = set()
        self._documents: dict[str, dict[str, Any]] = {}
        #: When (our clock) each watched peer's presence last changed.
        self._arrived: dict[str, float] = {}
        self._announced_online: dict[str, bool] = {}

    def arrived(self, name: str, data: dict[str, Any], now: float) -> None:
        """A listener reported the peer's presence document."""
        self._documents[name] = data
        self._arrived[name] = now

    def removed(self, name: str) -> None:
        """The peer's presence document is gone."""
        self._documents.pop(name, None)

    def document(self, name: str) -> dict[str, Any] | None:
        """The peer's presence document as last seen, unchecked."""
        return self._documents.get(name)

    def names(self) -> list[str]:
        """The peers whose presence we have seen."""
        return list(self._documents)

    def change(self, name: str, now: float) -> Presence | None:
        """The peer's presence to tell the node, if it changed (or went stale)
        since it was last told; None for nothing new, or a peer not watched."""
        if name not in self.watching:
            return None
        presence = self._presence_untrusted(name, self._documents.get(name), now)
        if self._announced_online.get(name) == presence.online:
            return None  # Nothing new: a refresh, or a peer still offline.
        self._announced_online[name] = presence.online
        return presence

    def _presence_untrusted(self, name: str, data: dict[str, Any] | None, now: float) -> Presence:
        if not data:
            return Presence(name, online=False)
        arrived = self._arrived.get(name)
        fresh = arrived is not None and now - arrived < self._timeout
        try:
            return Presence.from_dict_untrusted(
                {
                    "name": name,
                    "online": bool(data.get("online")) and fresh,
                    "key": data.get("key", ""),
                    "address": data.get("address", ""),
                }
            )
        except SignallingDataError as exc:
            self._skip(f"bad presence: {exc}")
            return Presence(name, online=False)
