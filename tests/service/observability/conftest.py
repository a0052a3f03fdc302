"""The jobs and alerts fixtures (fake OpenAI, fake Slack, webhook receiver), shared here."""

from tests.service.alerts.conftest import (  # noqa: F401
    alerts,
    fake_slack_server,
    receiver,
    receiver_server,
    slack,
)
from tests.service.jobs.conftest import clock, env, fake, fake_openai_server  # noqa: F401
