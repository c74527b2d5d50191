"""The groups scenario run by real `p2ptui pipe` processes, on loopback or in the NAT lab.

Four members; the first creates #team and invites the others (whose pipes
accept invitations); one member is killed (-9) while the others talk, then one
of the authors is killed too; the first comes back, and must get every
message from whoever is online; then the author comes back, and every
member's log (every message id, in the group's order) is the same.
"""

from __future__ import annotations

import time

#: Failsafe for each wait; every wait ends on an event first.
WAIT = 60.0


def until(process, name, check, timeout=WAIT):
    """The first `name` event passing check, among those read already or to come."""
    for event in process.events_seen(name):
        if check(event):
            return event
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = process.event(name, timeout=left)
        if check(event):
            return event
    raise AssertionError(f"no {name} event passing the check within {timeout} s")


def log_of(processes):
    """One member's log across its runs: {id: order} of every message it sent or received."""
    held = {}
    for process in processes:
        for name in ("message", "sent"):
            for event in process.events_seen(name):
                if event.get("group") == "team":
                    held[event["id"]] = tuple(event["order"])
    return held


def drain_seen(process, seconds=0.5):
    """Read what the process has said so far (so events_seen sees it)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            if process.line(timeout=left) is None:
                return
        except Exception:  # queue.Empty: nothing more for now
            return


def knows(process, name):
    """Until process's member list has name (at its join, or joined since)."""
    if any(name in e["members"] for e in process.events_seen("group-joined")):
        return
    until(process, "member-joined", lambda e: e["peer"] == name)


def holds(process, message_id):
    """Until process has the message (received it, or sent it itself)."""
    if any(e["id"] == message_id for e in process.events_seen("sent")):
        return
    until(process, "message", lambda e: e["id"] == message_id)


def run(start, names):
    """start(name, *args) -> Process: a pipe for name (the same config dir each time)."""
    creator, away, author, *_ = names
    runs = {name: [] for name in names}

    def launch(name, *args):
        process = start(name, "--group", "team", *args)
        runs[name].append(process)
        return process

    members = {creator: launch(creator)}
    until(members[creator], "group-joined", lambda e: e["group"] == "team")
    for name in names[1:]:
        members[name] = launch(name, "--accept-invites")
        members[name].event("ready", timeout=WAIT)
        members[creator].send(f"/invite team {name}")
        until(members[name], "group-joined", lambda e: e["group"] == "team")
    for process in members.values():
        for name in names:
            knows(process, name)

    members[away].stop()  # kill -9, while the others talk
    talkers = [name for name in names if name != away]
    sent: list[str] = []
    for i in range(6):
        speaker = members[talkers[i % len(talkers)]]
        speaker.send(f"message {i}")
        sent.append(until(speaker, "sent", lambda e: e["id"] not in sent)["id"])
    for name in talkers:
        for message_id in sent:
            holds(members[name], message_id)
    members[author].stop()  # an author of some of them goes too, before the away one returns

    members[away] = launch(away, "--accept-invites")
    for message_id in sent:
        holds(members[away], message_id)
    members[author] = launch(author)
    members[author].send("back again")
    late = until(members[author], "sent", lambda e: e["id"] not in sent)["id"]
    for process in members.values():
        holds(process, late)
        drain_seen(process)
    logs = {name: log_of(runs[name]) for name in names}
    expected = set(sent) | {late}
    for name, held in logs.items():
        assert set(held) == expected, (name, set(held) ^ expected)
    # One order everywhere: every member has the same (id -> order), so sorts the group alike.
    assert len({tuple(sorted(held.items())) for held in logs.values()}) == 1
    return logs
