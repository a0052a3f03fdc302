"""A job's timeline: ratecard's notes and OpenAI's events in the order they happened."""

from __future__ import annotations

import time

from tests.service.jobs.conftest import SQLITE_ONLY, JobsEnv

pytestmark = SQLITE_ONLY


def start_of_a_second() -> float:
    """Now, early in a second, so a launch's note and OpenAI's first event share that second."""
    while (now := time.time()) % 1 > 0.2:
        time.sleep(0.05)
    return now


def test_events__launch_requested_comes_before_openai_created_the_job_in_the_same_second(
    env: JobsEnv,
) -> None:
    env.clock.advance(start_of_a_second() - env.clock())
    job = env.launch().json()
    assert env.watcher().tick().errors == 0

    messages = [e["message"] for e in env.job(job["id"])["events"]]

    requested = next(i for i, m in enumerate(messages) if m.startswith("Launch requested"))
    created = next(i for i, m in enumerate(messages) if m.startswith("Created fine-tuning job"))
    assert requested < created, messages
