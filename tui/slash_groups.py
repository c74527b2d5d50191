"""The groups' slash commands: /group, /invite, /join, /ignore, /leave, /members, /kick, /admin.

What can be refused without asking the core is refused at once (not in a
group, not an admin, not a member): the core checks again, and what it
refuses comes back as an error in the group's log.
"""

from __future__ import annotations

from collections.abc import Callable

from p2ptui.net import ConfigError

from .commands import Completes, completions
from .core_thread import (
    Command,
    CreateGroup,
    IgnoreInvite,
    Invite,
    JoinGroup,
    Kick,
    LeaveGroup,
    MakeAdmin,
    OpenPeer,
    SendGroupText,
    SendText,
    ShowGroup,
)
from .follow_groups import GroupFollower
from .groups import LEFT, YOU, GroupState, is_group, key_of, name_of
from .model import Conversation
from .settings import check_user_name
from .words import member_look


def member_rows(state: GroupState, me: str, *, presence_known: bool = True) -> list[str]:
    """`● alice (admin): connected directly`, one a member, ourselves first as "you"."""
    if not state.members:
        return [f"{name}: not known yet" for name in state.member_names]
    rows = []
    for member in sorted(state.members, key=lambda member: (member.name != me, member.name)):
        admin = " (admin)" if member.admin else ""
        if member.name == me:
            rows.append(f"  {YOU}{admin}")
            continue
        look = member_look(member.status, presence_known=presence_known)
        rows.append(f"{look.glyph} {member.name}{admin}: {look.words}")
    return rows


#: The commands whose completion is ours (see `GroupCommands._complete`).
GROUP_COMMANDS = ("/invite", "/join", "/ignore", "/leave", "/kick", "/admin")


class GroupCommands(GroupFollower):
    """What the groups' commands do, and how a group is opened, sent to and shown (F3)."""

    def more_command_handlers(self) -> dict[str, Callable[[str], None]]:
        return {
            **super().more_command_handlers(),
            "/group": self.command_group,
            "/invite": self.command_invite,
            "/join": self.command_join,
            "/ignore": self.command_ignore,
            "/leave": self.command_leave,
            "/members": self.command_members,
            "/kick": self.command_kick,
            "/admin": self.command_admin,
        }

    # --- Hooks of the app ---------------------------------------------------------------------

    def open_group(self, key: str, *, select: bool = True) -> None:
        """A group chosen in the switcher, by /open #NAME, or remembered from the last run."""
        try:
            check_user_name(name_of(key))
        except ConfigError as exc:
            self.complain(str(exc))
            return
        if self.model.add(key):
            self.client.submit(OpenPeer(key))  # Its history and members; an error if there is no such group.
        if select:
            self.select(key)
        else:
            self.publish()

    def command_open(self, argument: str) -> None:
        if is_group(argument) and self.model.get(argument) is None:
            self.complain(f"no group {argument}: /group {name_of(argument)} creates it")
        else:
            super().command_open(argument)

    def refusal(self, peer: str) -> str:
        """Why nothing can be sent in this conversation now ("" when it can)."""
        conversation = self.model.get(peer)
        state = conversation.group if conversation else None
        if state is None:
            return ""
        if state.invited_by:
            return f"not sent: you are invited to {peer}, not in it yet: /join first"
        if state.gone:
            return f"not sent: {state.gone} {peer}" if state.gone == LEFT else f"not sent: {state.gone} from {peer}"
        return ""

    def text_command(self, peer: str, text: str, message_id: str) -> Command:
        if is_group(peer):
            return SendGroupText(name_of(peer), text, message_id)
        return SendText(peer, text, message_id)

    def own_sender(self, peer: str) -> str:
        """How our own message shows: "you" in a group, our name with one peer."""
        return YOU if is_group(peer) else self.me

    def action_details(self) -> None:
        if is_group(self.selected) and not self._in_dialog():
            self.client.submit(ShowGroup(name_of(self.selected or "")))
        else:
            super().action_details()

    def _complete(self, before: str) -> tuple[int, list[str]]:
        """The groups' commands complete from their own pools; the rest as SlashCommands does."""
        if before.partition(" ")[0] not in GROUP_COMMANDS:
            return super()._complete(before)
        groups = [name_of(name) for name in [*self.model.open, *self.model.closed] if is_group(name)]
        members = self._selected_group()
        peers = [name for name in [*self.model.open, *self.model.closed] if not is_group(name)]
        for conversation in self.model.open.values():
            if conversation.group is not None:  # Members we share a group with, though not in the sidebar.
                peers += [name for name in conversation.group.member_names if name not in peers and name != self.me]
        pools = {
            Completes.GROUP: groups,
            Completes.MEMBER: [n for n in (members.member_names if members else []) if n != self.me],
        }
        return completions(before, peers, (), more=pools)

    # --- The commands ---------------------------------------------------------------------------

    def _selected_group(self) -> GroupState | None:
        conversation = self.model.get(self.selected)
        return conversation.group if conversation is not None else None

    def _group_named(self, argument: str, what: str) -> Conversation | None:
        """The group NAME (or #NAME) names, or the selected one; says why not, and None, if none."""
        key = key_of(argument.removeprefix("#")) if argument else self.selected
        conversation = self.model.get(key) if is_group(key) else None
        if conversation is None or conversation.group is None:
            self.complain(f"no group {key}: /group NAME makes one" if argument
                          else f"select a group first, or {what} NAME")
            return None
        return conversation

    def _member_group(self, command: str) -> tuple[Conversation, GroupState] | None:
        """The selected group, if we are in it; says why not otherwise."""
        conversation = self.model.get(self.selected) if is_group(self.selected) else None
        if conversation is None or conversation.group is None:
            self.complain(f"{command} works in a group: select one first (Alt+N, Ctrl+K)")
            return None
        if not conversation.group.joined:
            self.complain(self.refusal(conversation.peer).removeprefix("not sent: "))
            return None
        return conversation, conversation.group

    def command_group(self, argument: str) -> None:
        name = argument.removeprefix("#")
        if not name:
            self.complain("name the group: /group NAME")
            self.message_input.replace_text("/group ")
            return
        try:
            check_user_name(name)
        except ConfigError as exc:
            self.complain(str(exc).replace("invalid name", "invalid group name"))
            return
        key = key_of(name)
        if self.model.get(key) is not None:
            self.complain(f"you have a group {key} already: choose another name")
            return
        self._asked_groups.add(key)
        self.client.submit(CreateGroup(name))

    def command_invite(self, argument: str) -> None:
        found = self._member_group("/invite")
        if found is None:
            return
        conversation, state = found
        if not argument:
            self.complain("whom? /invite PEER (Tab completes names)")
            self.message_input.replace_text("/invite ")
            return
        try:
            check_user_name(argument)
        except ConfigError as exc:
            self.complain(str(exc))
            return
        if argument == self.me:
            self.complain(f"you are in {conversation.peer} already")
        elif argument in state.member_names:
            self.complain(f"{argument} is in {conversation.peer} already")
        elif state.members and not state.admin:
            self.complain(self._not_admin(conversation.peer, state, "invite"))
        else:
            # The core adds them to the group (a MemberJoined follows) and sends the invitation.
            self.client.submit(Invite(name_of(conversation.peer), argument))

    def command_join(self, argument: str) -> None:
        if not argument and not is_group(self.selected):
            waiting = [c for c in self.model.open.values() if c.group and c.group.invited_by]
            argument = waiting[-1].peer if len(waiting) == 1 else ""
        key = key_of(argument.removeprefix("#"))
        if argument and self.model.get(key) is None:
            # An invitation from before a restart is not listed (the core tells each once): it decides.
            self._asked_groups.add(key)
            self.client.submit(JoinGroup(name_of(key)))
            return
        conversation = self._group_named(argument, "/join")
        if conversation is None or conversation.group is None:
            return
        if not conversation.group.invited_by:
            self.complain(f"no invitation to {conversation.peer} waits" if not conversation.group.joined
                          else f"you are in {conversation.peer} already")
            return
        self._asked_groups.add(conversation.peer)
        self.client.submit(JoinGroup(name_of(conversation.peer)))

    def command_ignore(self, argument: str) -> None:
        conversation = self._group_named(argument, "/ignore")
        if conversation is None or conversation.group is None:
            return
        if not conversation.group.invited_by:
            self.complain(f"no invitation to {conversation.peer} waits")
            return
        self.client.submit(IgnoreInvite(name_of(conversation.peer)))
        key = conversation.peer
        self.close_conversation(key)
        self.model.closed.pop(key, None)  # Declined: not even among the closed ones.
        self.show_info(f"You declined the invitation to {key}")

    def command_leave(self, argument: str) -> None:
        conversation = self._group_named(argument, "/leave")
        if conversation is None or conversation.group is None:
            return
        if not conversation.group.joined:
            self.complain(f"you are not in {conversation.peer}")
            return
        self.client.submit(LeaveGroup(name_of(conversation.peer)))

    def command_members(self, argument: str) -> None:
        conversation = self.model.get(self.selected) if is_group(self.selected) else None
        if conversation is None or conversation.group is None:
            self.complain("/members works in a group: select one first (Alt+N, Ctrl+K)")
            return
        state = conversation.group
        rows = member_rows(state, self.me, presence_known=self.signalling_up is not False)
        self.group_line(conversation, "\n".join([f"members of {conversation.peer} ({state.count}):", *rows]))

    def command_kick(self, argument: str) -> None:
        self._admin_command("/kick", argument, "remove", Kick)

    def command_admin(self, argument: str) -> None:
        self._admin_command("/admin", argument, "make admins", MakeAdmin)

    def _admin_command(self, command: str, peer: str, verb: str, make: type[Kick] | type[MakeAdmin]) -> None:
        found = self._member_group(command)
        if found is None:
            return
        conversation, state = found
        if not state.admin:
            self.complain(self._not_admin(conversation.peer, state, verb))
        elif not peer:
            self.complain(f"whom? {command} PEER (Tab completes the members)")
        elif peer == self.me:
            self.complain("that is you" + ("; /leave leaves the group" if make is Kick else ""))
        elif peer not in state.member_names:
            self.complain(f"{peer} is not in {conversation.peer}")
        elif make is MakeAdmin and state.is_admin(peer):
            self.complain(f"{peer} is an admin of {conversation.peer} already")
        else:
            self.client.submit(make(name_of(conversation.peer), peer))

    @staticmethod
    def _not_admin(key: str, state: GroupState, verb: str) -> str:
        admins = [member.name for member in state.members if member.admin]
        return f"only an admin of {key} can {verb}" + (f"; ask {', '.join(admins)}" if admins else "")
