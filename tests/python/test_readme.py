"""The README's Python blocks: each byte-compiled, the drop-in block run against a simulator, its answer as the
README shows it (tests/docs/readme_blocks.py; the C++ blocks and relayctl lines are ctest's docs.readme_*)."""
from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "docs"))

import readme_blocks  # noqa: E402


def test_the_readmes_python_blocks_compile_and_the_drop_in_runs(monkeypatch):
    for v in ("CHIRPSTACK_API_URL", "CHIRPSTACK_API_KEY"):
        monkeypatch.setenv(v, "")  # the check points them at its simulator; monkeypatch restores them after
    assert readme_blocks.check_python((REPO / "README.md").read_text()) == 0
