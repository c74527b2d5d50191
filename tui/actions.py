"""What the app's keys do: moving between conversations, dialogs, scrolling, keys.

`Actions` sits between `FileFollower` (what the core says) and `P2PApp`
(composition, state and commands). Which conversation a key leads to is the
pure model's answer (`model.Conversations`); setting `selected` shows it.
"""

from __future__ import annotations

from textual.actions import SkipAction
from textual.reactive import reactive
from textual.screen import ModalScreen

from p2ptui.net import events

from .core_thread import AcceptKey, LoadOlder, ShowDetails
from .follow_files import FileFollower
from .groups import group_status
from .widgets import ConversationLog, MessageInput, PeerList
from .words import HelpSection


class Actions(FileFollower):
    """The actions the bindings (`bindings.KEYS`) and the commands run."""

    selected: reactive[str | None] = reactive(None, init=False)
    """The conversation shown."""

    # The app's own.
    @property
    def message_input(self) -> MessageInput: ...

    def help_sections(self) -> list[HelpSection]: ...

    def _save_setting(self, **values: object) -> None: ...

    # The dialogs (tui/screens.py) load on first use: their widgets are not needed
    # for the first frame.

    def _in_dialog(self) -> bool:
        return len(self.screen_stack) > 1

    def action_next_peer(self) -> None:
        if not self._in_dialog():
            self.selected = self.model.step(+1) or self.selected

    def action_previous_peer(self) -> None:
        if not self._in_dialog():
            self.selected = self.model.step(-1) or self.selected

    def action_jump(self, number: int) -> None:
        if not self._in_dialog():
            self.selected = self.model.jump(number) or self.selected

    def action_next_unread(self) -> None:
        """The next conversation after the selected one (round the end) with something unread."""
        if self._in_dialog():
            return
        name = self.model.next_unread()
        if name is None:
            self.notify("Nothing unread", timeout=2)
        else:
            self.selected = name

    def action_quick_switch(self) -> None:
        if self._in_dialog():
            raise SkipAction()  # Ctrl+K in a dialog's input deletes to its end.
        from .screens import QuickSwitcher, SwitchTarget

        targets = [
            SwitchTarget(c.peer, group_status(c), c.unread, closed=closed, path=c.path)
            for closed, pool in ((False, self.model.open), (True, self.model.closed))
            for c in pool.values()
        ]

        def chosen(name: str | None) -> None:
            if name:
                self.open_conversation(name)

        self.push_screen(QuickSwitcher(targets, self.me), chosen)

    def action_open_dialog(self) -> None:
        from .screens import OpenPeerScreen

        if self._in_dialog():
            return  # Dialogs never stack.

        def opened(name: str | None) -> None:
            if name:
                self.open_conversation(name)

        self.push_screen(OpenPeerScreen(), opened)

    def action_details(self) -> None:
        if self._in_dialog():
            return
        if self.selected is None:
            self.complain("no conversation selected")
        else:
            self.client.submit(ShowDetails(self.selected))

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar", PeerList)
        sidebar.display = not sidebar.display
        self.publish()  # Without the sidebar, the status line counts what is unread.

    def action_help(self) -> None:
        from .screens import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_sections()))

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.show_info(f"The bell is {'on' if self.bell_on else 'off'} for messages in other conversations")
        self._save_setting(bell=self.bell_on)

    def action_scroll_log(self, where: str) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # The keys belong to the dialog.
        if where in ("start", "end") and self.message_input.text:
            raise SkipAction()  # Home/End move the cursor in what is being typed.
        log = self.log_widget
        match where:
            case "page_up":
                log.page_up()
            case "page_down":
                log.page_down()
            case "start":
                log.scroll_to_start()
            case "end":
                log.follow()

    def on_conversation_log_reached_top(self, _: ConversationLog.ReachedTop) -> None:
        """Scrolled back to the oldest line shown: the page before it, from the store."""
        conversation = self.model.open.get(self.selected) if self.selected else None
        if conversation is None or conversation.history_complete or conversation.loading_older:
            return
        oldest = conversation.oldest_id()
        if oldest is None:
            return
        conversation.loading_older = True
        self.client.submit(LoadOlder(conversation.peer, oldest))

    def action_review_key(self, peer: str) -> None:
        from .screens import KeyChangedScreen

        conversation = self.model.open.get(peer)
        if conversation is None or conversation.status != events.PeerStatus.KEY_CHANGED:
            self.complain(f"{peer}'s key has not changed")
            return
        if isinstance(self.screen, KeyChangedScreen):
            return

        def decided(accept: bool | None) -> None:
            if accept:
                self.client.submit(AcceptKey(peer, conversation.new_fingerprint))
                self.show_info(f"{peer}'s new key is trusted from now on")

        self.push_screen(KeyChangedScreen(conversation), decided)

