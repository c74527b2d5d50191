"""The `p2ptui` command's entry point: the garbage collector waits while it starts.

Starting up imports Textual and p2ptui and builds the screen: many objects,
little garbage, and the collector's passes over them cost the first frame
about a tenth. So collection is off from the first line; `cli.main` turns it
back on at once for every command but the TUI, which turns it on (and freezes
what start-up made, so that it is never scanned again) once its first frame
is drawn.
"""

from __future__ import annotations

import gc


def main(argv: list[str] | None = None) -> int:
    gc.disable()
    from .cli import main as run

    return run(argv)
