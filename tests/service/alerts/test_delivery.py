"""Outbox delivery: who hears about a finished job or a TPM crossing, once, over real HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from standardwebhooks import Webhook

from service.alerts.events import Event, publish_event
from service.alerts.models import Delivery
from service.db import session_scope
from tests.fakes.webhook_receiver import ReceivedWebhook
from tests.service.alerts.conftest import AlertsEnv, drain, job_payload, tpm_payload


def _verify(received: ReceivedWebhook, secret: str) -> dict:
    headers = {
        "webhook-id": received.webhook_id or "",
        "webhook-timestamp": received.timestamp or "",
        "webhook-signature": received.signature or "",
    }
    return Webhook(secret).verify(received.body, headers)


def test_job_finished__one_slack_message_and_one_webhook_per_subscription(alerts: AlertsEnv):
    team_channel = alerts.subscribe_slack("C0MLPLAT", {"type": "team", "team": "ml-platform"})
    # The same channel also follows every job: it must still hear about this one once.
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    launcher = alerts.subscribe_slack("U0LAUNCH1", {"type": "job", "job_id": "ftjob-abc123"})
    alerts.subscribe_slack("C0OTHER", {"type": "team", "team": "search"})
    finance = alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    audit = alerts.subscribe_webhook("/audit", {"type": "job", "job_id": "job_01hx7ab3"})
    alerts.subscribe_webhook("/unrelated", {"type": "job", "job_id": "ftjob-someotherjob"})

    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    assert drain(dispatcher) == 4
    assert drain(dispatcher) == 0  # nothing left to send

    assert sorted(m["channel"] for m in alerts.slack.messages) == ["C0MLPLAT", "U0LAUNCH1"]
    message = alerts.slack.messages_to("C0MLPLAT")[0]
    for figure in (
        "ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf",
        "1h 02m",
        "315,000",
        "$2.52",
        "$2.40",
        "+$0.12",
    ):
        assert figure in message["text"], figure
    blocks_text = str(message["blocks"])
    for figure in (
        "`ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf`",
        "*Duration*\\n1h 02m",
        "*Trained tokens*\\n315,000",
        "*Actual cost*\\n$2.52",
        "*Estimate*\\n$2.40",
        "*Difference*\\n+$0.12 (+5.0%)",
        "<@U0LAUNCH1>",
    ):
        assert figure in blocks_text, figure

    accepted = alerts.receiver.accepted()
    assert sorted(d.path for d in accepted) == ["/audit", "/finance"]
    for received, sub in ((d, finance if d.path == "/finance" else audit) for d in accepted):
        body = _verify(received, sub["webhook_secret"])
        assert body["type"] == "job.finished"
        assert body["data"]["id"] == "job_01hx7ab3"
        assert body["data"]["fine_tuned_model"] == "ft:gpt-3.5-turbo-0613:acme:support-bot:8AbCdEf"
        assert (
            body["data"]["estimated_cost_usd"],
            body["data"]["actual_cost_usd"],
            body["data"]["cost_difference_usd"],
        ) == ("2.40", "2.52", "0.12")
        assert received.webhook_id and received.webhook_id.startswith("msg_")
    assert len({d.webhook_id for d in accepted}) == 2

    rows = alerts.deliveries()
    assert {r.status for r in rows} == {"delivered"} and {r.attempts for r in rows} == {1}
    assert {r.subscription_id for r in rows} >= {team_channel["id"], launcher["id"]}


def test_job_finished__failed_job_message_carries_the_error(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.finish_job(
        job_payload(
            status="failed",
            fine_tuned_model=None,
            trained_tokens=None,
            actual_cost_usd="0.00",
            cost_difference_usd="-2.40",
            error={
                "code": "invalid_training_file",
                "message": "Line 7: <missing> 'messages' key",
                "param": "training_file",
            },
        )
    )
    drain(alerts.dispatcher())
    (message,) = alerts.slack.messages
    assert "failed" in message["text"] and "invalid_training_file" in message["text"]
    blocks_text = str(message["blocks"])
    assert "`invalid_training_file`: Line 7: &lt;missing&gt; 'messages' key" in blocks_text
    assert "Model to use" not in blocks_text
    assert "-$2.40" in blocks_text


def test_publish_event__same_transition_twice_alerts_once(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.finish_job(job_payload())
    with session_scope(alerts.engine) as session:  # a second watcher tick seeing the same finish
        assert (
            publish_event(
                session,
                kind="job.finished",
                subject="job_01hx7ab3",
                dedupe_key="job.finished:job_01hx7ab3:succeeded",
                payload=job_payload(),
            )
            is None
        )
    drain(alerts.dispatcher())
    assert len(alerts.slack.messages) == 1


def test_rollback_of_the_producing_transaction__sends_nothing(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})

    class JobUpdateFailed(Exception):
        pass

    with pytest.raises(JobUpdateFailed), session_scope(alerts.engine) as session:
        publish_event(
            session,
            kind="job.finished",
            subject="job_01hx7ab3",
            dedupe_key="job.finished:job_01hx7ab3:succeeded",
            payload=job_payload(),
        )
        raise JobUpdateFailed  # the job's own state change failed after the event was written

    assert drain(alerts.dispatcher()) == 0
    assert alerts.slack.calls == [] and alerts.receiver.deliveries == []
    with session_scope(alerts.engine) as session:
        assert session.exec(select(func.count()).select_from(Event)).one() == 0
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 0


def test_webhook__fails_twice_then_succeeds__same_webhook_id_three_times(alerts: AlertsEnv):
    sub = alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.receiver.fail_next(times=2, status=503)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()

    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "503" in (row.last_error or "")
    first_retry_at = row.next_attempt_at
    # First retry after the base delay with jitter: between half and all of it.
    base = alerts.settings.alert_retry_base_seconds
    assert (
        alerts.clock.now + timedelta(seconds=base / 2)
        <= first_retry_at
        <= alerts.clock.now + timedelta(seconds=base)
    )

    assert drain(dispatcher) == 0  # not due yet: nothing is sent early
    alerts.clock.now = first_retry_at
    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at - alerts.clock.now <= timedelta(
        seconds=2 * base
    )  # doubled, with jitter
    alerts.clock.now = row.next_attempt_at
    drain(dispatcher)

    received = alerts.receiver.deliveries
    assert [d.status_code for d in received] == [503, 503, 200]
    assert len({d.webhook_id for d in received}) == 1
    assert received[0].webhook_id == row.webhook_id
    assert len({d.body for d in received}) == 1  # identical body on every retry
    for d in received:
        assert d.verified
        _verify(d, sub["webhook_secret"])
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)


def test_webhook__5xx_is_retried_for_a_day_then_marked_failed(alerts: AlertsEnv):
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.receiver.fail_next(times=10_000, status=500)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    for _ in range(200):
        drain(dispatcher)
        (row,) = alerts.deliveries()
        if row.status != "pending":
            break
        alerts.clock.now = row.next_attempt_at
    assert row.status == "failed"
    assert "gave up after" in (row.last_error or "") and "24h" in (row.last_error or "")
    # Backoff grows to the hourly cap: a day of retries is dozens of attempts, not thousands.
    assert 15 <= row.attempts <= 60
    assert alerts.clock.now == row.retrying_since + timedelta(days=1)  # last try: at the deadline
    assert len(alerts.receiver.deliveries) == row.attempts


def test_webhook__timeout_is_retried(alerts: AlertsEnv):
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.receiver.delay_next(seconds=2, times=1)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher(webhook_timeout_seconds=0.3)
    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert row.status == "pending" and "timed out" in (row.last_error or "")
    alerts.clock.now = row.next_attempt_at
    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert row.status == "delivered"


def test_webhook__410_disables_the_subscription(alerts: AlertsEnv):
    sub = alerts.subscribe_webhook("/gone", {"type": "all_jobs"})
    alerts.receiver.gone()
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    drain(dispatcher)

    (row,) = alerts.deliveries()
    assert row.status == "disabled" and "410" in (row.last_error or "")
    shown = alerts.admin.get(f"/v1/subscriptions/{sub['id']}").json()
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]

    alerts.finish_job(job_payload(id="job_02second", openai_job_id="ftjob-second"))
    drain(dispatcher)
    assert len(alerts.deliveries()) == 1  # a disabled subscription gets no new alerts
    assert len(alerts.receiver.deliveries) == 1


def test_webhook__other_4xx_fails_permanently_without_retry(alerts: AlertsEnv):
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})
    alerts.receiver.fail_next(times=5, status=400)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    drain(dispatcher)
    alerts.clock.advance(3 * 86400)
    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "400" in (row.last_error or "")
    assert len(alerts.receiver.deliveries) == 1


def test_webhook__address_is_checked_again_at_send_time(alerts: AlertsEnv):
    alerts.subscribe_webhook("/finance", {"type": "all_jobs"})  # accepted: loopback allowed then
    alerts.finish_job(job_payload())
    drain(alerts.dispatcher(webhook_allowed_networks=""))  # the operator has since closed it
    (row,) = alerts.deliveries()
    assert row.status == "failed" and "refused at send time" in (row.last_error or "")
    assert alerts.receiver.deliveries == []


def test_slack__429_waits_for_retry_after_then_delivers_once(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.slack.rate_limit_next(retry_after=30)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()

    drain(dispatcher)
    (row,) = alerts.deliveries()
    assert row.status == "pending" and "429" in (row.last_error or "")
    assert row.next_attempt_at == alerts.clock.now + timedelta(seconds=30)
    alerts.clock.advance(29)
    assert drain(dispatcher) == 0
    alerts.clock.advance(1)
    drain(dispatcher)

    assert [c.status_code for c in alerts.slack.calls] == [429, 200]
    assert len(alerts.slack.messages) == 1
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts) == ("delivered", 2)


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_slack__ok_false_fails_permanently_with_the_reason(alerts: AlertsEnv, error: str):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.slack.fail_next(error=error, times=5)
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    drain(dispatcher)
    alerts.clock.advance(3 * 86400)
    assert drain(dispatcher) == 0
    assert len(alerts.slack.calls) == 1
    (row,) = alerts.deliveries()
    assert (row.status, row.attempts) == ("failed", 1)
    assert error in (row.last_error or "")


def test_slack__wrong_token_fails_with_invalid_auth_and_never_logs_the_token(
    alerts: AlertsEnv, caplog
):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.finish_job(job_payload())
    caplog.set_level("DEBUG")
    drain(alerts.dispatcher(slack_bot_token="xoxb-wrong-token-SECRET"))
    (row,) = alerts.deliveries()
    assert row.status == "failed" and "invalid_auth" in (row.last_error or "")
    assert "SECRET" not in caplog.text


def test_deleted_subscription__its_pending_alert_is_not_sent(alerts: AlertsEnv):
    sub = alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.finish_job(job_payload())
    assert alerts.admin.delete(f"/v1/subscriptions/{sub['id']}").status_code == 204
    drain(alerts.dispatcher())
    assert alerts.slack.calls == []
    (row,) = alerts.deliveries()
    assert row.status == "disabled" and row.last_error == "subscription deleted"


def test_tpm_threshold__goes_to_tpm_subscriptions_of_that_family(alerts: AlertsEnv):
    alerts.subscribe_slack("C0TPM", {"type": "tpm", "family": "gpt-3.5-turbo"})
    alerts.subscribe_slack(
        "C0HIGH", {"type": "tpm", "family": "gpt-3.5-turbo", "threshold_pct": 90}
    )
    alerts.subscribe_slack("C0GPT4", {"type": "tpm", "family": "gpt-4"})
    alerts.subscribe_slack("C0JOBS", {"type": "all_jobs"})
    hook = alerts.subscribe_webhook("/tpm", {"type": "tpm", "family": "gpt-3.5-turbo"})
    dispatcher = alerts.dispatcher()

    def crossing(n: int, state: str, utilisation: str) -> None:
        alerts.publish(
            "tpm.threshold",
            "org-acme/gpt-3.5-turbo",
            f"tpm.threshold:org-acme:gpt-3.5-turbo:{n}",
            tpm_payload(state=state, utilisation=utilisation),
        )
        drain(dispatcher)

    crossing(1, "above", "83.1")
    assert Counter(m["channel"] for m in alerts.slack.messages) == {"C0TPM": 1}
    text = alerts.slack.messages[0]["text"]
    assert "gpt-3.5-turbo" in text and "83.1%" in text and "1,000,000" in text
    crossing(2, "below", "41.0")  # C0HIGH never heard "above", so it hears no "below" either
    crossing(3, "above", "95.2")
    crossing(4, "below", "12.0")
    assert Counter(m["channel"] for m in alerts.slack.messages) == {"C0TPM": 4, "C0HIGH": 2}
    high = alerts.slack.messages_to("C0HIGH")
    assert "at 95.2%" in high[0]["text"] and "back below" in high[1]["text"]

    states = [d.json["data"]["state"] for d in alerts.receiver.accepted()]
    assert states == ["above", "below", "above", "below"]
    for d in alerts.receiver.accepted():
        _verify(d, hook["webhook_secret"])


def test_alert_log_shows_attempts_and_admin_can_retry_a_failed_one(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    alerts.slack.fail_next(error="not_in_channel")
    alerts.finish_job(job_payload())
    dispatcher = alerts.dispatcher()
    drain(dispatcher)

    page = alerts.admin.get("/v1/alerts", params={"status": "failed"}).json()
    (alert,) = page["items"]
    assert alert["status"] == "failed" and alert["attempts"] == 1
    assert "not_in_channel" in alert["last_error"]
    assert alert["destination"] == {"type": "slack", "channel": "C0MLPLAT"}
    assert (alert["event_kind"], alert["subject"]) == ("job.finished", "job_01hx7ab3")
    assert alerts.admin.get("/v1/alerts", params={"status": "delivered"}).json()["items"] == []

    with alerts.client_with("read") as reader, alerts.client_with("launch") as launcher:
        assert reader.get(f"/v1/alerts/{alert['id']}").json()["id"] == alert["id"]
        assert reader.post(f"/v1/alerts/{alert['id']}/retry").status_code == 403
        assert launcher.post(f"/v1/alerts/{alert['id']}/retry").status_code == 403

    # The bot has been invited to the channel; an admin re-queues the alert.
    r = alerts.admin.post(f"/v1/alerts/{alert['id']}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    alerts.catch_up()
    drain(dispatcher)
    assert len(alerts.slack.messages) == 1
    shown = alerts.admin.get(f"/v1/alerts/{alert['id']}").json()
    assert (shown["status"], shown["attempts"], shown["webhook_id"]) == (
        "delivered",
        2,
        alert["webhook_id"],
    )

    r = alerts.admin.post(f"/v1/alerts/{alert['id']}/retry")
    assert r.status_code == 409 and r.json()["code"] == "not_retryable"
    assert alerts.admin.post("/v1/alerts/dlv_nope/retry").status_code == 404
    assert alerts.admin.get("/v1/alerts", params={"status": "lost"}).status_code == 422


def test_alert_log__pages_newest_first(alerts: AlertsEnv):
    alerts.subscribe_slack("C0MLPLAT", {"type": "all_jobs"})
    for i in range(5):
        alerts.finish_job(job_payload(id=f"job_0{i}page", openai_job_id=f"ftjob-page{i}"))
    first = alerts.admin.get("/v1/alerts", params={"limit": 3}).json()
    second = alerts.admin.get(
        "/v1/alerts", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    subjects = [a["subject"] for a in first["items"] + second["items"]]
    assert subjects == [f"job_0{i}page" for i in reversed(range(5))]
    assert second["next_cursor"] is None
