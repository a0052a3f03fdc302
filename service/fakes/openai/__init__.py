"""A loopback fake of OpenAI's Files, Fine-tuning and Models APIs and the admin Usage
(completions) and Costs APIs, for the demo and tests.

It speaks the real wire protocol (paths under ``/v1``, OpenAI's JSON shapes and error
objects, ``metadata[k]=v`` filters, cursor pagination newest first) so the service, the tests
and ``ratecard serve --demo`` can run with no network and no credentials. Responses follow
``shared/reference/openai-openapi.yaml``; ``tests/service/test_fake_openai_schema.py`` checks it.

One module per API area: :mod:`.files`, :mod:`.fine_tuning` (jobs, events, checkpoints;
progress in :mod:`.lifecycle`), :mod:`.models`, :mod:`.usage` and :mod:`.costs` (seeded by
``add_completions_usage`` / ``add_cost``; buckets and pages in :mod:`.buckets`). Shared:
:mod:`.core` (store, lock, request log), :mod:`.errors` (error object, pagination),
:mod:`.training` (training-file analysis); :mod:`.app` builds the ASGI app. Failure injection
for tests lives in ``tests/fakes/fake_openai.py``, not here.

Deliberate simplifications (documented so nobody mistakes them for OpenAI's behaviour):
files live in memory; only the ``supervised`` method is accepted; a job list ``limit`` above
100 is clamped to 100; ``min_training_examples`` defaults to 1 (OpenAI requires 10).

Run it: ``python -m service.fakes.openai --port 8765 [--file data.jsonl]``.
"""

from service.fakes.openai.app import create_fake_openai_app, main
from service.fakes.openai.clock import ManualClock
from service.fakes.openai.core import RecordedRequest
from service.fakes.openai.errors import FakeOpenAIError
from service.fakes.openai.models import FINE_TUNABLE_MODELS, MODEL_ALIASES
from service.fakes.openai.records import FakeCheckpoint, FakeFile, FakeJob
from service.fakes.openai.state import FakeOpenAIState
from service.fakes.openai.training import approximate_text_tokens, default_n_epochs

__all__ = [
    "FINE_TUNABLE_MODELS",
    "MODEL_ALIASES",
    "FakeCheckpoint",
    "FakeFile",
    "FakeJob",
    "FakeOpenAIError",
    "FakeOpenAIState",
    "ManualClock",
    "RecordedRequest",
    "approximate_text_tokens",
    "create_fake_openai_app",
    "default_n_epochs",
    "main",
]
