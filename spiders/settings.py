"""Settings only the Scrapy engine has: `--render` through scrapy-playwright. The settings
both engines share are audit/measure/settings.py."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from audit.measure.settings import BASE

CHROMIUM = "/usr/bin/chromium"
# How long closing a rendered page may take: Chromium closes even a page whose script spins in
# well under a second.
CLOSE_TIMEOUT_S = 10.0


def download_timeout(meta: dict[str, Any], settings: Any) -> float:
    """A request's download timeout (a seed page's may be longer), which bounds its render and
    its screenshot as it bounds every fetch."""
    return float(meta.get("download_timeout") or settings.getfloat("DOWNLOAD_TIMEOUT"))


# How long a render waits for `load` once the document is parsed: a page is read when its
# document is (DOMContentLoaded), then given this long for its subresources and `onload`
# scripts. Waiting for `load` itself, one image that never finished loading (a stalled
# tracker, a slow ad server, a hostile drip) made every seed page a `render_timeout`, its links
# never planned, where a user's Chrome shows the page and its links at once (a review).
LOAD_WAIT_S = 5.0

# The JavaScript heap of a rendered page, in MB (V8's old space: most of what a script holds).
V8_HEAP_MB = 512

# Playwright launches Chromium with switches that turn off defences a user's Chrome has. These
# two let a platform blind the auditor with one line of script, so they are not passed:
# - `--disable-ipc-flooding-protection` turns off Blink's rate limit on same-document
#   navigations (200 per 10 s): 20,000 `history.pushState` calls took a render 55 s instead of
#   0.6 s, a million took the run 568 s and the browser 7 GB (an adversarial review);
# - `--disable-popup-blocking` lets a script open windows without a user's gesture: 2,000
#   `window.open` calls on a seed page made it a `render_timeout`, its links never planned,
#   where a user's browser blocks them and shows the page.
# No page hulian renders is clicked, so no window a user's gesture opens is lost.
RESTORED_DEFENCES = ("--disable-ipc-flooding-protection", "--disable-popup-blocking")


# What reaches a desktop from a process's environment, or runs another program for it.
_DESKTOP_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
                      "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "BROWSER")
OPENERS = ("xdg-open", "xdg-email", "xdg-settings", "xdg-mime", "gio", "gnome-open",
           "kde-open", "kde-open5", "exo-open", "x-www-browser", "sensible-browser",
           "www-browser")


class NoOpenersError(RuntimeError):
    """No directory where hulian may write do-nothing openers can run them."""


def _openers_in(directory: Path) -> Path | None:
    """`directory` with every opener a stub that does nothing, if it is the user's own and its
    stubs run (a `noexec` /tmp: the shell's search skipped a stub it could not run and found
    the real `xdg-email`, review 146); None otherwise."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = directory.lstat()
        if directory.is_symlink() or found.st_uid != os.getuid() or found.st_mode & 0o022:
            return None  # someone else's, in a shared directory: their stubs would run as ours
        for name in OPENERS:
            stub = directory / name
            if not stub.exists():
                stub.write_text("#!/bin/sh\n# hulian: a rendered page may not start programs\n"
                                "exit 1\n")
                stub.chmod(0o700)
        ran = subprocess.run([str(directory / OPENERS[0])], check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return directory if ran.returncode == 1 else None


def browser_environment() -> dict[str, str]:
    """The rendering browser's environment: the crawl's, without a display or a session
    bus, and with a directory of openers that do nothing and fail first on its PATH (the
    temporary directory's, else one in the user's cache). Raises NoOpenersError where no
    such directory runs its stubs: a render must not go on without them."""
    uid = os.getuid()
    for directory in (Path(tempfile.gettempdir()) / f"hulian-no-openers-{uid}",
                      Path.home() / ".cache" / "hulian" / "no-openers"):
        openers = _openers_in(directory)
        if openers is not None:
            break
    else:
        raise NoOpenersError(
            "--render needs a directory whose programs can run for its do-nothing openers "
            f"(tried {tempfile.gettempdir()} and ~/.cache/hulian; both noexec or not ours)")
    environment = {name: value for name, value in os.environ.items()
                   if name not in _DESKTOP_VARIABLES}
    environment["PATH"] = os.pathsep.join(
        [str(openers), os.environ.get("PATH", os.defpath)])
    return environment


def render(gate_args: list[str]) -> dict[str, Any]:
    """--render: pages fetched through scrapy-playwright driving Debian's Chromium (never a
    downloaded browser). Only requests marked `playwright` use it; every other request keeps
    Scrapy's own downloader, so raw HTTP evidence still comes from the wire.

    `gate_args` make the browser gate (audit/measure/browsergate.py) Chromium's only way out: the
    gate applies the private-address guard and the routes to every request of the browser's,
    so the context has no proxy of its own. Service workers are off: a worker's requests
    are the browser's too, and it could outlive the page it came with."""
    # Downloads are refused, as a headless Chrome refuses them unasked: Playwright's contexts
    # accept them, and one `<a download>` a seed page clicked streamed an endless file into
    # /tmp for the rest of the run (30 GB in 172 s, after its page was closed: a download is
    # the browser's, not the tab's; an adversarial review).
    context: dict[str, Any] = {"ignore_https_errors": False, "java_script_enabled": True,
                               "service_workers": "block", "accept_downloads": False}
    # A page's link to another program (`<iframe src="mailto:…">`) is handed by Chromium to
    # the desktop's opener: headless or not, it ran `xdg-open`/`xdg-email` with the page's
    # URI on the auditor's machine, and with a display started a second, ungated browser
    # (review 144). The browser gets no display or session bus, and openers that do nothing
    # first on its PATH.
    return {
        "DOWNLOAD_HANDLERS": {
            "http": "spiders.browser.BoundedPlaywrightHandler",
            "https": "spiders.browser.BoundedPlaywrightHandler",
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        # A new driver where a page took the last one down (spiders/browser.py).
        "PLAYWRIGHT_BROWSER_PROVIDER": "spiders.browser.RelaunchingBrowserProvider",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": CHROMIUM,
            "headless": True,
            "ignore_default_args": list(RESTORED_DEFENCES),
            # No sandbox as root; no background traffic to Google from the auditor's browser.
            # A page's JavaScript heap is bounded (V8_HEAP_MB): a page that kept allocating
            # took its renderer to 3.7 GB (an adversarial review); past the bound the
            # renderer dies and the render fails, recorded as such.
            "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", f"--js-flags=--max-old-space-size={V8_HEAP_MB}",
                     *gate_args],
            "env": browser_environment(),
        },
        "PLAYWRIGHT_CONTEXTS": {"default": context},
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
        "EXTENSIONS": {**BASE["EXTENSIONS"], "spiders.render.BrowserGateExtension": 100},
    }
