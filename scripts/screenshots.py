"""Regenerate the pictures in screenshots/ from the same scenes the snapshot tests use.

    .venv/bin/python scripts/screenshots.py
"""

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_snapshots import busy_app  # noqa: E402


async def main() -> None:
    app, populate = busy_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await populate(pilot)
        await pilot.pause()
        path = app.save_screenshot(filename="main-80x24.svg", path=str(ROOT / "screenshots"))
    print(path)


if __name__ == "__main__":
    asyncio.run(main())
