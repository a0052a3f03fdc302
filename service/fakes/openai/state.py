"""The fake's whole state: every API area's mixin over one store."""

from __future__ import annotations

from service.fakes.openai.costs import CostsMixin
from service.fakes.openai.fine_tuning import FineTuningMixin
from service.fakes.openai.usage import UsageMixin

__all__ = ["FakeOpenAIState"]


class FakeOpenAIState(FineTuningMixin, UsageMixin, CostsMixin):
    """Everything the fake knows, shared by the app and the tests (thread-safe).

    Files (:mod:`~service.fakes.openai.files`), models (:mod:`~service.fakes.openai.models`)
    fine-tuning (:mod:`~service.fakes.openai.fine_tuning`, progressing by
    :mod:`~service.fakes.openai.lifecycle`), and the admin usage and costs
    (:mod:`~service.fakes.openai.usage`, :mod:`~service.fakes.openai.costs`) over
    :class:`~service.fakes.openai.core.StateCore`.
    Constructor options: ``step_seconds`` or ``durations[state]`` (time per job state),
    ``clock`` (``ManualClock`` in tests), ``api_key`` (None accepts any bearer token),
    ``count_text_tokens``, ``min_training_examples`` (1 by default; OpenAI requires 10, and
    the project's sample files have 5 examples).
    """
