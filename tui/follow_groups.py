"""What the core says about groups, followed: one `@on` handler per kind of group event.

`GroupFollower` sits between `SlashCommands` and `GroupCommands`. A group is
a conversation keyed `#NAME` (`groups.key_of`), so the unread counts, toasts,
Alt+N and the switcher work for it as for a peer. Where a core event concerns
groups and pairs alike (a message, a peer's state, history), the handler here
runs first (a subclass's) and stops the pair's handler with `prevent_default`
only when it handled the event whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual import on

from p2ptui.net import PeerStatus

from . import messages
from .core_thread import OpenPeer
from .groups import LEFT, REMOVED, YOU, is_group, key_of
from .model import Conversation, Line, LineKind
from .sanitize import sanitize
from .slash import SlashCommands

if TYPE_CHECKING:
    from p2ptui.net import StoredMessage


class GroupFollower(SlashCommands):
    """Group events in, the groups' conversations and the user's notices out."""

    def _groups_init(self) -> None:
        self._asked_groups: set[str] = set()
        """Groups the user created or joined here: shown as soon as the core confirms."""

    # --- Conversations of groups --------------------------------------------------------------

    def group_conversation(self, key: str, *, bring_back: bool = True) -> Conversation:
        """The group's conversation, made (and its history asked for) the first time it is heard of;
        a closed one comes back when `bring_back` (a message, an invitation), not for a member's state."""
        conversation = self.model.get(key)
        if conversation is None:
            conversation = self.model.known(key)
            self.client.submit(OpenPeer(key))  # Its history, and its members' states.
            if self.model.selected is None:
                self.select(key)
        elif key in self.model.closed and bring_back:
            self.model.bring_back(key)
        return conversation

    def group_line(self, conversation: Conversation, text: str) -> None:
        """A line about the group (who joined, who left, an invitation): in its log."""
        self.add_system_line(conversation, text)
        self.publish()

    def stored_line(self, peer: str, m: StoredMessage) -> Line:
        if not is_group(peer):
            return super().stored_line(peer, m)
        # In a group's history, `m.peer` is the author; our own show as "you".
        return Line(datetime.fromtimestamp(m.at), YOU if m.outgoing else m.peer, sanitize(m.text),
                    own=m.outgoing, id=m.id, delivered=m.delivered)

    def _show_placed(self, conversation: Conversation, index: int) -> None:
        if conversation.peer == self.model.selected:
            self.log_widget.inserted(index, conversation.lines[index])

    # --- One handler per kind of group event --------------------------------------------------

    @on(messages.MessageReceived)
    def _when_group_message(self, message: messages.MessageReceived) -> None:
        received = message.event
        if not received.group:
            return  # A pair's: CoreFollower's handler.
        message.prevent_default()
        key = key_of(received.group)
        conversation = self.group_conversation(key)
        safe = sanitize(received.text)
        line = Line(self.clock(), received.peer, safe, id=received.id, order=received.order)
        index = conversation.place(line, shown=key == self.model.selected)
        self._show_placed(conversation, index)
        self.publish()
        if key != self.model.selected:
            self._notice(key, safe, title=f"{received.peer} in {key}")

    @on(messages.GroupMessageSent)
    def _when_group_message_sent(self, message: messages.GroupMessageSent) -> None:
        sent = message.event
        conversation = self.model.get(key_of(sent.group))
        if conversation is None or not conversation.placed(sent.id, sent.order):
            return
        index = next(i for i, line in enumerate(conversation.lines) if line.own and line.id == sent.id)
        self._show_placed(conversation, index)

    @on(messages.CoreError)
    def _when_group_command_refused(self, message: messages.CoreError) -> None:
        error = message.event
        if not is_group(error.peer) or error.message_id:
            return  # Not a group's, or a message it did not send: CoreFollower's handler.
        # The core refused a group command just typed (a peer whose key it does not know, say):
        # an answer to it, in the group's log and for a while in the header, not a lasting problem.
        message.prevent_default()
        if (conversation := self.model.get(error.peer or "")) is not None:
            self.add_system_line(conversation, error.message)
        self.complain(error.message)

    @on(messages.PeerChanged)
    def _when_member_changed(self, message: messages.PeerChanged) -> None:
        changed = message.event
        groups = [c for c in self.model.open.values() if c.group is not None]
        touched = [c for c in groups if c.group and c.group.peer_changed(changed.peer, changed.status)]
        if not changed.member_only or changed.status == PeerStatus.KEY_CHANGED:
            return  # A key change the user must see and may accept (/accept-key), member or not.
        known = self.model.get(changed.peer)
        if known is not None and self._only_knocked(known) and self.model.forget(changed.peer):
            known = None  # It reached us as a stranger before we joined its group, and never wrote.
            self.publish()
        if known is None:
            # Connected only for a group: listed under it (/members, F3), not in the sidebar.
            message.prevent_default()
            if touched:
                self.publish()
                if self.model.selected in {c.peer for c in touched}:
                    self.log_widget.update_title()

    @staticmethod
    def _only_knocked(conversation: Conversation) -> bool:
        return not any(line.kind is LineKind.MESSAGE for line in conversation.lines)

    @on(messages.GroupInvited)
    def _when_invited(self, message: messages.GroupInvited) -> None:
        invited = message.event
        key = key_of(invited.group)
        conversation = self.group_conversation(key)
        assert conversation.group is not None
        conversation.group.invited_by, conversation.group.gone = invited.inviter, ""
        conversation.group.names = invited.members
        conversation.new = key != self.model.selected  # Alt+A finds it.
        others = ", ".join(name for name in invited.members if name not in (invited.inviter, self.me))
        text = f"{invited.inviter} invites you to {key}" + (f" (with {others})" if others else "")
        line = f"{text}: /join {invited.group} to join, /ignore {invited.group} to decline"
        self.group_line(conversation, line)
        inviter = self.model.open.get(invited.inviter)
        if inviter is not None:
            self.add_system_line(inviter, line)
        self.notify(sanitize(f"{text}: /join {invited.group}"), title="Invitation", markup=False, timeout=10)
        if key == self.model.selected:
            self.log_widget.update_title()

    @on(messages.GroupJoined)
    def _when_joined(self, message: messages.GroupJoined) -> None:
        joined = message.event
        key = key_of(joined.group)
        conversation = self.group_conversation(key)
        assert conversation.group is not None
        invited = bool(conversation.group.invited_by)
        conversation.group.joined_now(joined.members)
        others = [name for name in joined.members if name != self.me]
        if not invited and not others:
            text = f"you created {key}: /invite PEER to add people"
        else:
            text = f"you joined {key}" + (f": {', '.join(others)}" if others else "")
        self.group_line(conversation, text)
        if key in self._asked_groups or self.model.selected is None:
            self._asked_groups.discard(key)
            self.select(key)
        elif key == self.model.selected:
            self.log_widget.show(conversation)

    @on(messages.MemberJoined)
    def _when_member_joined(self, message: messages.MemberJoined) -> None:
        joined = message.event
        conversation = self.model.get(key_of(joined.group))
        if conversation is None or conversation.group is None or joined.peer == self.me:
            return
        conversation.group.member_joined(joined.peer)
        # Added by an admin: a member from now on, though they may not have said /join yet.
        self.group_line(conversation, f"{joined.peer} was added")
        self._retitle(conversation)

    @on(messages.MemberLeft)
    def _when_member_left(self, message: messages.MemberLeft) -> None:
        left = message.event
        conversation = self.model.get(key_of(left.group))
        if conversation is None or conversation.group is None:
            return
        if left.peer == self.me:
            conversation.group.gone = REMOVED if left.kicked else LEFT
            self.group_line(conversation, f"{conversation.group.gone}; the history stays here")
        else:
            conversation.group.member_left(left.peer)
            self.group_line(conversation, f"{left.peer} {'was removed' if left.kicked else 'left'}")
        self._retitle(conversation)

    @on(messages.GroupChanged)
    def _when_group_changed(self, message: messages.GroupChanged) -> None:
        info = message.event.info
        conversation = self.group_conversation(key_of(info.group), bring_back=False)
        assert conversation.group is not None
        admins = {member.name for member in conversation.group.members if member.admin}
        conversation.group.described(info, self.me)
        if admins:  # Known before: say who became one (the core tells no event of its own for it).
            for member in info.members:
                if member.admin and member.name not in admins:
                    who = "you are" if member.name == self.me else f"{member.name} is"
                    self.add_system_line(conversation, f"{who} an admin now")
        self.publish()
        self._retitle(conversation)

    @on(messages.GroupShown)
    def _when_group_shown(self, message: messages.GroupShown) -> None:
        from .group_screen import GroupDetailsScreen  # Loaded on first use, not for the first frame.

        info = message.event
        conversation = self.model.get(key_of(info.group))
        if conversation is not None and conversation.group is not None:
            conversation.group.described(info, self.me)
            self.publish()
        if not isinstance(self.screen, GroupDetailsScreen):
            self.push_screen(GroupDetailsScreen(info, me=self.me, presence_known=self.signalling_up is not False))

    def _retitle(self, conversation: Conversation) -> None:
        if conversation.peer == self.model.selected:
            self.log_widget.update_title()
            self.log_widget.update_senders()
