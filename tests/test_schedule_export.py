"""Exporting a schedule to cron and systemd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from audit.ops.export import CronError, crontab_line, on_calendar, systemd_units


@pytest.mark.parametrize(("cron", "calendar"), [
    ("0 3 * * *", "*-*-* 03:00:00"),
    ("30 2 * * 1-5", "Mon..Fri *-*-* 02:30:00"),
    ("*/15 * * * *", "*-*-* *:0/15:00"),
    ("0 0 1 */3 *", "*-1/3-1 00:00:00"),
    ("5 4 * * sun", "Sun *-*-* 04:05:00"),
    ("0 8,20 * * *", "*-*-* 8,20:00:00"),
    ("0 9-17 * * *", "*-*-* 9..17:00:00"),
])
def test_on_calendar(cron: str, calendar: str) -> None:
    assert on_calendar(cron) == calendar
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(("cron", "message"), [
    ("0 3 * *", "expected 5 fields"),
    ("61 3 * * *", "minute: 61 is out of range"),
    ("0 3 * * funday", "day of week"),
    ("0 x * * *", "hour: cannot read"),
])
def test_bad_cron(cron: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        on_calendar(cron)


def test_crontab_line_and_units() -> None:
    line = crontab_line("nightly", "0 3 * * *", "/opt/hulian/.venv/bin/hulian", Path("/srv/a b"))
    assert line.startswith("0 3 * * * cd '/srv/a b' && /opt/hulian/.venv/bin/hulian schedule "
                           "run-now nightly")
    units = systemd_units("nightly", "0 3 * * 1", "/opt/h/bin/hulian", Path("/srv"))
    assert set(units) == {"hulian-nightly.service", "hulian-nightly.timer"}
    assert "ExecStart=/opt/h/bin/hulian schedule run-now nightly" in units["hulian-nightly.service"]
    assert "OnCalendar=Mon *-*-* 03:00:00" in units["hulian-nightly.timer"]
    assert "Persistent=true" in units["hulian-nightly.timer"]
