"""The slash commands, their completion, and the input's history: pure, no widgets.

One table, COMMANDS, is the source for what the input accepts, what Tab
completes, what the help screen lists and what the command palette offers,
so none of them can drift from the others. The app runs each through its own
table of handlers, one per row (checked when the app is made); a new command
(say, /verify) is a row here and a handler there.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Completes(enum.Enum):
    """What a command's argument is, for Tab."""

    NOTHING = "nothing"
    PEER = "peer"
    THEME = "theme"
    PATH = "path"
    """A file to send: completed from the disk (tui/path_complete.py)."""
    TRANSFER = "transfer"
    """A file transfer of the selected conversation, by its file name."""
    GROUP = "group"
    MEMBER = "member"
    """A member of the selected group."""


@dataclass(frozen=True)
class Command:
    name: str
    """As typed, with its slash: "/open"."""
    argument: str
    """How the help shows its argument: "NAME", "[NAME]" (optional), or "" (none)."""
    help: str
    title: str = ""
    """Its name in the command palette, run there without an argument; "" if not offered."""
    completes: Completes = Completes.NOTHING


COMMANDS: tuple[Command, ...] = (
    Command("/open", "[NAME]", "open a conversation with NAME (without NAME: ask for it)",
            "Open a conversation…", Completes.PEER),
    Command("/close", "[NAME]", "close the selected conversation, or NAME's; its history is kept "
            "and /open brings it back", "Close this conversation", Completes.PEER),
    Command("/details", "", "the connection to the selected peer: path, round trip, keys, drop counters",
            "Connection details"),
    Command("/accept-key", "", "review the selected peer's changed key, and trust it if you choose",
            "Review a changed key"),
    Command("/verify", "[NAME]", "compare safety numbers with the selected peer, or NAME, to know the key "
            "is theirs; mark them verified if the numbers match", "Verify this peer's key", Completes.PEER),
    Command("/send", "PATH", "offer a file to the selected conversation (Tab completes the path)",
            "Send a file…", Completes.PATH),
    Command("/accept", "[FILE]", "accept the newest file offered here (also Enter on an empty input), "
            "or the one whose name or id starts with FILE", "Accept the file offered", Completes.TRANSFER),
    Command("/decline", "[FILE]", "decline the newest file offered here, or FILE", "Decline the file offered",
            Completes.TRANSFER),
    Command("/cancel", "[FILE]", "stop the newest file transfer here, either way, or FILE",
            "Cancel a file transfer", Completes.TRANSFER),
    Command("/group", "NAME", "create a group, shown as #NAME; you are its first admin", "Create a group…"),
    Command("/invite", "PEER", "invite PEER to the selected group", "Invite someone to this group…",
            Completes.PEER),
    Command("/join", "[NAME]", "join the group you were invited to (the selected one, or NAME)",
            "Join this group", Completes.GROUP),
    Command("/ignore", "[NAME]", "decline an invitation to a group (the selected one, or NAME)",
            "Decline this invitation", Completes.GROUP),
    Command("/leave", "[NAME]", "leave the selected group, or NAME; its history is kept", "Leave this group",
            Completes.GROUP),
    Command("/members", "", "the selected group's members, admins and how each is connected", "Group members"),
    Command("/kick", "PEER", "remove PEER from the selected group (admins only)", "", Completes.MEMBER),
    Command("/admin", "PEER", "make PEER an admin of the selected group (admins only)", "", Completes.MEMBER),
    Command("/sidebar", "", "hide or show the list of conversations", "Hide or show the sidebar"),
    Command("/theme", "[NAME]", "change the colours (without NAME: choose from a list); saved in config.toml",
            "Change the theme", Completes.THEME),
    Command("/bell", "", "ring the terminal bell for messages in other conversations, or stop; saved",
            "Turn the bell on or off"),
    Command("/help", "", "every key and command (also F1, or ? with an empty input)", "Help: keys and commands"),
    Command("/quit", "", "quit p2ptui (also Ctrl+Q)", "Quit"),
)

BY_NAME = {command.name: command for command in COMMANDS}


@dataclass(frozen=True)
class Parsed:
    """What the input holds: a command and its argument, or a message."""

    command: Command | None
    argument: str = ""
    text: str = ""
    """The message to send, when it is not a command."""
    unknown: str = ""
    """A word that looked like a command and is not one."""


def parse(text: str) -> Parsed:
    """A single line starting with one slash is a command; `//` sends a leading slash."""
    if text.startswith("//"):
        return Parsed(None, text=text[1:])
    if not text.startswith("/") or "\n" in text.strip():
        return Parsed(None, text=text)
    name, _, argument = text.strip().partition(" ")
    command = BY_NAME.get(name)
    if command is None:
        return Parsed(None, unknown=name)
    return Parsed(command, argument.strip())


def completions(
    before: str,
    peers: Iterable[str],
    themes: Iterable[str],
    files: Iterable[str] = (),
    *,
    more: Mapping[Completes, Iterable[str]] | None = None,
) -> tuple[int, list[str]]:
    """What Tab can put in place of the word before the cursor.

    `before` is the input's text up to the cursor. Returns where that word
    starts and the candidates, in order (none when there is nothing to complete):
    command names at the start of the input, and after a command, the names it
    takes (peers, themes, the names of the conversation's files, or what `more` gives
    for other kinds: groups, members). Matching is by prefix, ignoring case. (Paths, for
    /send, are tui/path_complete.py's.)
    """
    if not before.startswith("/") or "\n" in before:
        return len(before), []
    name, space, word = before.partition(" ")
    if not space:
        return 0, [command.name for command in COMMANDS if command.name.startswith(name.lower())]
    command = BY_NAME.get(name)
    # A file's name may hold spaces: it is the whole rest, where other names are one word.
    if command is None or (" " in word and command.completes is not Completes.TRANSFER):
        return len(before), []
    pools = {**(more or {}), Completes.PEER: peers, Completes.THEME: themes, Completes.TRANSFER: files}
    pool = pools.get(command.completes, ())
    start = len(name) + 1
    return start, [candidate for candidate in pool if candidate.lower().startswith(word.lower())]


@dataclass
class InputHistory:
    """What was sent, recalled with Up and Down as in a shell.

    Leaving the newest entry with Down brings back what was being typed
    before the first Up (the draft).
    """

    limit: int = 200
    entries: list[str] = field(default_factory=list)
    _index: int | None = None
    _draft: str = ""

    def add(self, text: str) -> None:
        if text and (not self.entries or self.entries[-1] != text):
            self.entries.append(text)
            del self.entries[: -self.limit]
        self._index = None

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (or the newest), or None at the oldest."""
        if self._index is None:
            self._draft, self._index = current, len(self.entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown, the draft after the newest, or None when not recalling."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self.entries[self._index]
