"""Golden files: `hulian inspect examples/ --json` must print exactly tests/golden/.

After an intended change, regenerate with `HULIAN_UPDATE_GOLDEN=1 make test` (or the same
variable on a pytest run) and review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from audit.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "inspect-examples.jsonl"


def test_inspect_examples_match_golden() -> None:
    result = CliRunner().invoke(app, ["inspect", str(ROOT / "examples"), "--json"])
    assert result.exit_code == 0, result.stderr
    # File names relative to the repository, whatever the working directory.
    produced = result.stdout.replace(str(ROOT) + "/", "")
    if os.environ.get("HULIAN_UPDATE_GOLDEN"):
        GOLDEN.write_text(produced, encoding="utf-8")
    assert produced == GOLDEN.read_text(encoding="utf-8")
