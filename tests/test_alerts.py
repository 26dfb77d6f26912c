"""Alerts: a real local HTTP receiver (with failures, to exercise retries and timeouts) and a
real local SMTP server (aiosmtpd), both on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from audit.ops.alerts import Alert, EmailChannel, WebhookChannel, deliver, send_webhook
from tests.conftest import Receiver, webhook_receiver

ALERT = Alert(schedule="nightly", run_id="r2", previous_run_id="r1",
              regressions=[{"source": "wetalk", "target": "taoshop", "before": "direct",
                            "after": "copy_only"}],
              new_failing_requirements=["miit-2021/im-standard-3-no-extra-steps"])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    with webhook_receiver(state) as url:
        yield state, url


def test_webhook_posts_the_alert_json(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    (delivery,) = deliver(ALERT, [WebhookChannel(url=url, backoff_s=0)])
    assert delivery.ok and delivery.attempts == 1
    (body,) = state.bodies
    assert body["event"] == "hulian.regression"
    assert body["regressions"][0]["after"] == "copy_only"
    assert body["new_failing_requirements"] == ["miit-2021/im-standard-3-no-extra-steps"]


def test_webhook_retries_server_errors(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first = 2
    delivery = send_webhook(ALERT, WebhookChannel(url=url, retries=3, backoff_s=0))
    assert delivery.ok and delivery.attempts == 3
    assert len(state.bodies) == 1


def test_webhook_gives_up_and_reports(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first = 99
    delivery = send_webhook(ALERT, WebhookChannel(url=url, retries=2, backoff_s=0))
    assert not delivery.ok and delivery.attempts == 3 and delivery.error == "HTTP 500"


def test_webhook_does_not_retry_a_refusal(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first, state.status = 99, 400
    delivery = send_webhook(ALERT, WebhookChannel(url=url, retries=3, backoff_s=0))
    assert not delivery.ok and delivery.attempts == 1


def test_webhook_timeout(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.delay_s = 1.0
    started = time.monotonic()
    delivery = send_webhook(ALERT, WebhookChannel(url=url, retries=0, timeout_s=0.2))
    assert not delivery.ok
    assert time.monotonic() - started < 0.9


def test_no_alert_when_nothing_regressed(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    assert deliver(Alert("nightly", "r2", "r1"), [WebhookChannel(url=url)]) == []
    assert state.hits == 0


def test_email_through_a_real_smtp_server() -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    received: list[Any] = []

    class Keep(Sink):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = EmailChannel(to=["compliance@example.test"], smtp_port=port)
        (delivery,) = deliver(ALERT, [channel])
    finally:
        controller.stop()
    assert delivery.ok
    (envelope,) = received
    assert envelope.rcpt_tos == ["compliance@example.test"]
    assert b"copy_only" in envelope.content
    assert b"nightly" in envelope.content


def test_email_failure_is_reported_not_raised() -> None:
    channel = EmailChannel(to=["x@example.test"], smtp_port=1, timeout_s=1)
    (delivery,) = deliver(ALERT, [channel])
    assert not delivery.ok and delivery.error
