"""Alerts after a scheduled run: a webhook (JSON POST with retries and a timeout), an email
through a configured SMTP server, and a line in the log. The payload is built by a pure
function; senders report their failure instead of raising, so one broken channel does not
silence the others.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class WebhookChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)


class EmailChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["email"] = "email"
    to: list[str] = Field(min_length=1)
    sender: str = "hulian@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None  # the name of the variable holding the password
    timeout_s: float = Field(default=10.0, gt=0)


Channel = WebhookChannel | EmailChannel


@dataclass(frozen=True)
class Alert:
    """What regressed between a schedule's previous run and this one."""

    schedule: str
    run_id: str
    previous_run_id: str | None
    regressions: list[dict[str, Any]] = field(default_factory=list)  # per edge: before/after
    new_failing_requirements: list[str] = field(default_factory=list)
    # per platform x search engine that closed (further): platform, engine, before/after
    search_regressions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        return bool(self.regressions or self.new_failing_requirements
                    or self.search_regressions)

    def payload(self) -> dict[str, Any]:
        return {
            "event": "hulian.regression",
            "schedule": self.schedule,
            "run_id": self.run_id,
            "previous_run_id": self.previous_run_id,
            "regressions": self.regressions,
            "new_failing_requirements": self.new_failing_requirements,
            "search_regressions": self.search_regressions,
            "summary": self.summary(),
        }

    def summary(self) -> str:
        parts = []
        if self.regressions:
            parts.append(f"{len(self.regressions)} link edge(s) got worse / {len(self.regressions)}"
                         " 条链接变差")
        if self.search_regressions:
            closed = ", ".join(f"{r['platform']}/{r['engine']} {r['before']}->{r['after']}"
                               for r in self.search_regressions[:5])
            parts.append(f"closed (further) to a search engine / 对搜索引擎收紧: {closed}"
                         + (" …" if len(self.search_regressions) > 5 else ""))
        if self.new_failing_requirements:
            parts.append("newly failing requirements / 新增不合规要求: "
                         + ", ".join(self.new_failing_requirements))
        return f"[hulian] schedule {self.schedule}, run {self.run_id}: " + "; ".join(parts)


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    attempts: int
    error: str | None = None


def send_webhook(alert: Alert, channel: WebhookChannel) -> Delivery:
    body = json.dumps(alert.payload(), ensure_ascii=False).encode("utf-8")
    error = None
    for attempt in range(1, channel.retries + 2):
        request = urllib.request.Request(
            channel.url, data=body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8",
                     "User-Agent": "hulian-alerts"})
        try:
            with urllib.request.urlopen(request, timeout=channel.timeout_s) as response:
                if 200 <= response.status < 300:
                    return Delivery(f"webhook {channel.url}", True, attempt)
                error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the receiver refuses this payload: retrying will not help
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt <= channel.retries:
            time.sleep(channel.backoff_s * attempt)
    logger.warning("webhook %s failed: %s", channel.url, error)
    return Delivery(f"webhook {channel.url}", False, attempt, error)


def send_email(alert: Alert, channel: EmailChannel, password: str | None = None) -> Delivery:
    message = EmailMessage()
    message["Subject"] = alert.summary()[:200]
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(json.dumps(alert.payload(), ensure_ascii=False, indent=2))
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port,
                          timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                smtp.starttls()
            if channel.username and password is not None:
                smtp.login(channel.username, password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("email to %s failed: %s", channel.to, exc)
        return Delivery(f"email {','.join(channel.to)}", False, 1, str(exc))
    return Delivery(f"email {','.join(channel.to)}", True, 1)


def deliver(alert: Alert, channels: list[Channel],
            env: dict[str, str] | None = None) -> list[Delivery]:
    """Send `alert` to every channel and log it; nothing is sent when nothing regressed."""
    if not alert.needed:
        return []
    logger.warning("%s", alert.summary())
    deliveries = []
    for channel in channels:
        if isinstance(channel, WebhookChannel):
            deliveries.append(send_webhook(alert, channel))
        else:
            password = (env or {}).get(channel.password_env) if channel.password_env else None
            deliveries.append(send_email(alert, channel, password))
    return deliveries
