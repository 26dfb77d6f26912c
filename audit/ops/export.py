"""For those who prefer the system's scheduler: a schedule as a crontab line, or as a systemd
service + timer pair, both calling the same one-shot `hulian schedule run-now NAME`.

Pure text generation; the cron -> systemd OnCalendar conversion covers the five standard
fields with numbers, `*`, lists, ranges and steps (what `CronTrigger.from_crontab` accepts).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

_DOW = {"0": "Sun", "1": "Mon", "2": "Tue", "3": "Wed", "4": "Thu", "5": "Fri", "6": "Sat",
        "7": "Sun", "sun": "Sun", "mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu",
        "fri": "Fri", "sat": "Sat"}


class CronError(ValueError):
    """A cron expression hulian cannot use; the message names the field."""


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


def _field(expr: str, name: str, low: int, high: int) -> str:
    """One numeric cron field in systemd calendar syntax."""
    parts = []
    for item in expr.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", item)
        if not match:
            raise CronError(f"{name}: cannot read {item!r}")
        start, end, step = match.groups()
        first = low if start == "*" else int(start)
        last = high if start == "*" and end is None else int(end) if end else None
        for value in (first, last):
            if value is not None and not low <= value <= high:
                raise CronError(f"{name}: {value} is out of range {low}-{high}")
        if step:
            parts.append(f"{first}/{step}" if last in (None, high) else
                         ",".join(str(v) for v in range(first, (last or high) + 1, int(step))))
        elif start == "*":
            parts.append("*")
        elif last is not None:
            parts.append(f"{first}..{last}")
        else:
            parts.append(str(first))
    return ",".join(parts)


def validate_cron(expr: str) -> list[str]:
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    for value, (name, low, high) in zip(fields[:4], _FIELDS[:4], strict=True):
        _field(value, name, low, high)
    _weekday(fields[4])
    return fields


def _weekday(expr: str) -> str:
    if expr == "*":
        return ""
    days = []
    for item in expr.lower().split(","):
        if "-" in item:
            a, b = item.split("-", 1)
            if a not in _DOW or b not in _DOW:
                raise CronError(f"day of week: cannot read {item!r}")
            days.append(f"{_DOW[a]}..{_DOW[b]}")
        elif item in _DOW:
            days.append(_DOW[item])
        else:
            raise CronError(f"day of week: cannot read {item!r}")
    return ",".join(days)


def on_calendar(expr: str) -> str:
    """`0 3 * * 1-5` -> `Mon..Fri *-*-* 03:00:00`."""
    minute, hour, dom, month, dow = validate_cron(expr)
    minute_s = _field(minute, "minute", 0, 59)
    hour_s = _field(hour, "hour", 0, 23)
    date = f"*-{_field(month, 'month', 1, 12)}-{_field(dom, 'day of month', 1, 31)}"
    weekday = _weekday(dow)
    return f"{weekday + ' ' if weekday else ''}{date} {_pad(hour_s)}:{_pad(minute_s)}:00"


def _pad(value: str) -> str:
    return value.zfill(2) if value.isdigit() else value


def command(name: str, executable: str, workdir: Path) -> str:
    return f"cd {shlex.quote(str(workdir))} && {shlex.quote(executable)} schedule run-now " \
           f"{shlex.quote(name)}"


def crontab_line(name: str, cron: str, executable: str, workdir: Path) -> str:
    validate_cron(cron)
    return f"{cron} {command(name, executable, workdir)} >> hulian-schedule-{name}.log 2>&1"


def systemd_units(name: str, cron: str, executable: str, workdir: Path) -> dict[str, str]:
    unit = f"hulian-{name}"
    service = f"""[Unit]
Description=hulian scheduled audit {name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={workdir}
Environment=TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=
ExecStart={shlex.quote(executable)} schedule run-now {shlex.quote(name)}
"""
    timer = f"""[Unit]
Description=hulian scheduled audit {name} ({cron})

[Timer]
OnCalendar={on_calendar(cron)}
# Run once at boot if the machine was off at the scheduled time.
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {f"{unit}.service": service, f"{unit}.timer": timer}
