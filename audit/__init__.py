"""hulian (互联): audit whether platforms block, obstruct or discriminate against links to
other companies' services, judged against China's 2021 MIIT rectification of 屏蔽网址链接."""

from pathlib import Path

__version__ = "0.1.0"


def shipped_dir(name: str, marker: str) -> Path:
    """A directory hulian ships beside its code (policies/, reports/): inside the installed
    wheel (audit/_data/NAME) or in a checkout (NAME at the repository's root). `marker` is a
    path inside it that must exist."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / name, package.parent / name):
        if (candidate / marker).exists():
            return candidate
    raise FileNotFoundError(f"the shipped {name}/ directory is missing from this installation")
