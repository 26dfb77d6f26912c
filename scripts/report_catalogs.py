"""Refresh the report message catalogs from the templates (run after editing a template):

    .venv/bin/python scripts/report_catalogs.py

Extracts reports/locale/messages.pot with pybabel and merges it into the zh_CN and en .po
files (pybabel update), keeping existing translations. New zh_CN strings arrive untranslated
(shown in English) until someone fills in their msgstr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYBABEL = Path(sys.executable).with_name("pybabel")


def main() -> None:
    locale = ROOT / "reports" / "locale"
    pot = locale / "messages.pot"
    subprocess.run([str(PYBABEL), "extract", "-F", str(ROOT / "reports" / "babel.cfg"),
                    "--no-location", "--project", "hulian", "-o", str(pot),
                    str(ROOT / "reports")], check=True)
    for lang in ("zh_CN", "en"):
        po = locale / lang / "LC_MESSAGES" / "messages.po"
        command = "update" if po.exists() else "init"
        subprocess.run([str(PYBABEL), command, "-i", str(pot), "-d", str(locale), "-l", lang,
                        "--no-wrap"], check=True)


if __name__ == "__main__":
    main()
