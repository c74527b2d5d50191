"""Snapshot tests of file transfers (pytest-textual-snapshot); update with --snapshot-update.

The scenes are in `FILE_SCENES`, which tests/test_snapshots.py adds to the
pictures scripts/screenshots.py draws; they start from its busy app.
"""

from p2ptui.net import PeerStatus, events

FILE_A, FILE_B, FILE_C = "ab" * 16, "cd" * 16, "ef" * 16


def file_offer_app():
    """alice offers a file: who, its name, its size, and what to do."""
    from .test_snapshots import busy_app  # Here, not above: test_snapshots imports this module.

    app, populate = busy_app()
    core = app.client

    async def offer(pilot):
        await populate(pilot)
        core.emit(events.FileOffered("alice", FILE_A, "holiday photos.tar.gz", 48_213_000))
        await pilot.pause()

    return app, offer


def file_transfer_app():
    """Both ways at once: alice's file coming in (62%), ours going out, one received before."""
    from .test_snapshots import busy_app  # Here, not above: test_snapshots imports this module.

    app, populate = busy_app()
    core = app.client

    async def transfer(pilot):
        await populate(pilot)
        core.emit(
            events.FileOffered("alice", FILE_C, "notes.md", 4_200),
            events.FileReceived("alice", FILE_C, "/home/dana/Downloads/notes.md", 4_200, "9f86d081884c7d65" * 4),
            events.FileOffered("alice", FILE_A, "holiday photos.tar.gz", 48_213_000),
        )
        await pilot.pause()
        await pilot.press("enter")  # accepted
        core.emit(
            events.FileProgress("alice", FILE_A, 29_892_000, 48_213_000, 4_100_000.0, False),
            events.FileOffered("alice", FILE_B, "draft.odt", 1_530_000, outgoing=True),
            events.FileProgress("alice", FILE_B, 420_000, 1_530_000, 880_000.0, True),
        )
        await pilot.pause()

    return app, transfer


def file_details_app():
    """F3 with transfers under way: the Files block."""
    from .test_snapshots import NO_MAPPING, busy_app  # Here, not above: test_snapshots imports this module.

    app, populate = busy_app()
    core = app.client

    async def details(pilot):
        await populate(pilot)
        core.emit(
            events.Details(
                "alice", PeerStatus.CONNECTED, path=events.PathKind.DIRECT, network="internet",
                remote=("198.51.100.7", 51000), rtt=0.0234, encryption="Noise_IK_25519_ChaChaPoly_BLAKE2s",
                fingerprint="1a2b 3c4d 5e6f 7a8b 9c0d 1e2f 3a4b 5c6d",
                own_fingerprint="0f1e 2d3c 4b5a 6978 8796 a5b4 c3d2 e1f0", portmap=NO_MAPPING,
                transfers=(
                    events.Transfer("alice", FILE_A, "holiday photos.tar.gz", 48_213_000, False, "receiving",
                                    29_892_000, 4_100_000.0),
                    events.Transfer("alice", FILE_B, "draft.odt", 1_530_000, True, "sending", 420_000, 880_000.0),
                    events.Transfer("alice", FILE_C, "big.iso", 4_700_000_000, True, "offered"),
                ),
            )
        )
        await pilot.pause()

    return app, details


def test_file_offer_80x24(snap_compare):
    app, offer = file_offer_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=offer)


def test_file_transfer_80x24(snap_compare):
    app, transfer = file_transfer_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=transfer)


def test_file_transfer_60x20(snap_compare):
    app, transfer = file_transfer_app()
    assert snap_compare(app, terminal_size=(60, 20), run_before=transfer)


def test_file_details_80x24(snap_compare):
    app, details = file_details_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=details)


FILE_SCENES = {
    "file-offer-80x24": (file_offer_app, (80, 24)),
    "file-transfer-80x24": (file_transfer_app, (80, 24)),
    "file-details-80x24": (file_details_app, (80, 24)),
}
