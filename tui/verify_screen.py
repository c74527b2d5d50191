"""The verify dialog: the safety number of you and a peer, as digits and as a QR
code, and the user's word on whether it matches the peer's.

Standalone: it is given the number (`Node.safety_number`) and returns True
("They match": mark the peer verified with `Node.mark_verified(peer, seen=number)`)
or False. Names are data, so every text is Content, never markup.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from p2ptui.net import format_safety_number

from .qr import qr_lines

QR_MIN_SIZE = (68, 22)
"""The smallest terminal (columns, rows) that shows the QR code beside the number;
smaller ones show the number alone, and say where the code is."""


class VerifyScreen(ModalScreen[bool]):
    """Compare the safety number with the peer's; True if the user says they match."""

    # No one-key "yes": the dialog opens when the core answers, and keys typed
    # meanwhile ("yes, later", a second Enter) must never say the numbers match.
    BINDINGS = [Binding("escape,n", "answer(False)", "Cancel")]
    DEFAULT_CSS = """
    VerifyScreen { align: center middle; }
    VerifyScreen > Vertical {
        width: 68; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    VerifyScreen.-lost > Vertical { border: round $error; }
    VerifyScreen.-lost #verify-title { color: $error; }
    VerifyScreen #verify-title { text-style: bold; }
    VerifyScreen #verify-body { height: auto; }
    VerifyScreen #verify-qr { width: auto; height: auto; margin-right: 2; color: #000000; background: #ffffff; }
    VerifyScreen #verify-side { width: 1fr; height: auto; }
    VerifyScreen #verify-number { text-style: bold; margin-bottom: 1; }
    VerifyScreen #verify-lost { color: $error; text-style: bold; margin-bottom: 1; }
    VerifyScreen .hint { color: $text-muted; }
    VerifyScreen #verify-no-qr { margin-top: 1; }
    VerifyScreen Horizontal#verify-buttons { height: auto; }
    VerifyScreen Button { margin-right: 2; }
    """

    def __init__(self, peer: str, number: str, *, verification_lost: bool = False) -> None:
        """number: the 60 digits (spaces allowed); raises ValueError for anything else."""
        super().__init__(classes="-lost" if verification_lost else "")
        self.peer = peer
        self.grid = format_safety_number(number, per_line=4)
        self.number = self.grid.replace("\n", "").replace(" ", "")
        self.verification_lost = verification_lost

    def compose(self) -> ComposeResult:
        peer = self.peer
        with Vertical():
            yield Label(Content(f"Verify {peer}"), id="verify-title")
            with Horizontal(id="verify-body"):
                yield Static(Content("\n".join(qr_lines(self.number))), id="verify-qr")
                with Vertical(id="verify-side"):
                    yield Static(Content(self.grid), id="verify-number")
                    if self.verification_lost:
                        yield Static(Content(f"{peer}'s key changed after you verified it."), id="verify-lost")
                    yield Static(
                        Content(
                            f"Compare this safety number with the one {peer} sees "
                            "(in person, on a call, or scan the code). It matches only "
                            "if no one is in between."
                        ),
                        id="verify-explanation",
                    )
                    yield Static(
                        Content(f"Too small for the QR code: `p2ptui fingerprint --qr {peer}` prints it."),
                        id="verify-no-qr",
                        classes="hint",
                    )
            with Horizontal(id="verify-buttons"):
                yield Button("They match", id="verify-match", variant="success")
                yield Button("Cancel", id="verify-cancel")
            yield Label("Tab to They match, then Enter · Esc or n: cancel", classes="hint")

    def on_mount(self) -> None:
        self._fit(self.app.size.width, self.app.size.height)
        self.query_one("#verify-cancel", Button).focus()  # The safe choice is the default.

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """The QR code beside the number where it fits; the number alone, with a note, where not."""
        fits = width >= QR_MIN_SIZE[0] and height >= QR_MIN_SIZE[1]
        self.query_one("#verify-qr").display = fits
        self.query_one("#verify-no-qr").display = not fits

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "verify-match")

    def action_answer(self, match: bool) -> None:
        self.dismiss(match)
