"""Regenerate the pictures in screenshots/ from the same scenes the snapshot tests use.

    .venv/bin/python scripts/screenshots.py
"""

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_snapshots import SCENES  # noqa: E402


async def main() -> None:
    for name, (scene, size) in SCENES.items():
        app, populate = scene()
        async with app.run_test(size=size, notifications=True) as pilot:
            await populate(pilot)
            await pilot.pause()
            print(app.save_screenshot(filename=f"{name}.svg", path=str(ROOT / "screenshots")))


if __name__ == "__main__":
    asyncio.run(main())
