"""The verify dialog on its own, in a tiny host app: keys, buttons, fitting 80x24 and 60x20."""

import pytest
from textual.app import App
from textual.widgets import Static

from p2ptui.qr import qr_lines
from p2ptui.verify_screen import VerifyScreen

NUMBER = "075362714455560201043650082844788061801066304434201883017403"


class Host(App[None]):
    """Opens the dialog at once and keeps its answer."""

    def __init__(self, screen: VerifyScreen) -> None:
        super().__init__()
        self.dialog = screen
        self.answers: list[bool] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, callback=self.answers.append)


def host(peer="bob", **kwargs) -> Host:
    return Host(VerifyScreen(peer, NUMBER, **kwargs))


@pytest.mark.asyncio
# Cancel has the focus: Enter alone (typed ahead, say) never says the numbers match.
@pytest.mark.parametrize(
    ("keys", "answer"), [(["enter"], False), (["tab", "enter"], True), (["escape"], False), (["n"], False)]
)
async def test_keys_answer(keys, answer):
    app = host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        assert app.answers == [answer]
        assert not isinstance(app.screen, VerifyScreen)


@pytest.mark.asyncio
@pytest.mark.parametrize(("button", "answer"), [("#verify-match", True), ("#verify-cancel", False)])
async def test_buttons_answer(button, answer):
    app = host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click(button)
        await pilot.pause()
        assert app.answers == [answer]


@pytest.mark.asyncio
async def test_a_y_typed_ahead_says_nothing():
    app = host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"yes")
        await pilot.pause()
        assert app.answers == [] and isinstance(app.screen, VerifyScreen)


def text_of(app: Host, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


@pytest.mark.asyncio
async def test_80x24_shows_number_and_qr_code_side_by_side_within_the_screen():
    app = host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        qr, number = screen.query_one("#verify-qr"), screen.query_one("#verify-number")
        assert qr.display and not screen.query_one("#verify-no-qr").display
        assert text_of(app, "#verify-qr").splitlines() == qr_lines(NUMBER)
        assert text_of(app, "#verify-number").splitlines() == [
            "07536 27144 55560 20104",
            "36500 82844 78806 18010",
            "66304 43420 18830 17403",
        ]
        assert qr.region.right <= number.region.x  # beside it
        assert (qr.region.width, qr.region.height) == (29, 15)
        dialog = screen.query_one("VerifyScreen > Vertical")
        assert screen.region.contains_region(dialog.region)
        assert screen.query_one("#verify-buttons").region.bottom <= dialog.region.bottom


@pytest.mark.asyncio
async def test_60x20_shows_the_number_alone_and_says_where_the_code_is():
    app = host()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#verify-qr").display
        assert "p2ptui fingerprint --qr bob" in text_of(app, "#verify-no-qr")
        dialog = screen.query_one("VerifyScreen > Vertical")
        assert screen.region.contains_region(dialog.region)
        assert screen.region.contains_region(screen.query_one("#verify-match").region)


@pytest.mark.asyncio
async def test_growing_the_terminal_brings_the_code_back():
    app = host()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert not app.screen.query_one("#verify-qr").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.query_one("#verify-qr").display


@pytest.mark.asyncio
async def test_names_are_shown_literally_never_as_markup():
    app = host(peer="[b]eve[/b][@click=app.quit]")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Verify [b]eve[/b][@click=app.quit]" in str(app.screen.query_one("#verify-title").render())


@pytest.mark.asyncio
async def test_a_lost_verification_is_said_loudly():
    app = host(verification_lost=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert text_of(app, "#verify-lost") == "bob's key changed after you verified it."
        assert app.screen.has_class("-lost")
    async with host().run_test(size=(80, 24)) as pilot:
        assert not pilot.app.screen.query("#verify-lost")


def test_a_malformed_number_is_refused_before_anything_is_shown():
    with pytest.raises(ValueError):
        VerifyScreen("bob", "12345")


def test_snapshot_80x24(snap_compare):
    assert snap_compare(host(), terminal_size=(80, 24))


def test_snapshot_60x20(snap_compare):
    assert snap_compare(host(), terminal_size=(60, 20))


def test_snapshot_verification_lost_80x24(snap_compare):
    assert snap_compare(host(verification_lost=True), terminal_size=(80, 24))
