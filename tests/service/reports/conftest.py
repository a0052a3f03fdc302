# The reports run on jobs launched through the service against the fake OpenAI API.
from tests.service.jobs.conftest import clock, env, fake, fake_openai_server

__all__ = ["clock", "env", "fake", "fake_openai_server"]
