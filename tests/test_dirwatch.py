"""inotify on a directory: woken by real changes in it, and only by them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from installer_env.dirwatch import DirectoryChanges


async def test_files_written_renamed_and_removed_wake_it_and_nothing_else_does(tmp_path: Path) -> None:
    changes = DirectoryChanges(tmp_path)
    try:
        assert await changes.wait(timeout=0.2) is False
        (tmp_path / "new").write_text("x")
        assert await changes.wait(timeout=1.0) is True
        assert await changes.wait(timeout=0.2) is False  # each change is reported once
        (tmp_path / "staged").write_text("y")
        await changes.wait(timeout=1.0)
        os.replace(tmp_path / "staged", tmp_path / "new")
        assert await changes.wait(timeout=1.0) is True
        (tmp_path / "new").unlink()
        assert await changes.wait(timeout=1.0) is True
        os.stat(tmp_path)  # looking is not changing
        assert await changes.wait(timeout=0.2) is False
        assert changes.alive
    finally:
        changes.close()


async def test_a_removed_directory_ends_the_watch(tmp_path: Path) -> None:
    watched = tmp_path / "state"
    watched.mkdir()
    changes = DirectoryChanges(watched)
    try:
        shutil.rmtree(watched)
        assert await changes.wait(timeout=1.0) is True
        assert not changes.alive
    finally:
        changes.close()


async def test_a_missing_directory_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot watch"):
        DirectoryChanges(tmp_path / "missing")
