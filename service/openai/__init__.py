"""OpenAI files + fine-tuning client: plain parameters in, typed models and errors out.

Nothing here touches the database or the service settings; the jobs feature wires it up.
"""

from service.openai.client import QUOTA_ERROR_CODES, OpenAIClient
from service.openai.errors import (
    OpenAIAPIError,
    OpenAIAuthError,
    OpenAICreateOutcomeUnknown,
    OpenAIError,
    OpenAINotFound,
    OpenAIProtocolError,
    OpenAIQuotaExceeded,
    OpenAIRequestRejected,
    OpenAIUnavailable,
)
from service.openai.models import (
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    FineTuningHyperparameters,
    FineTuningJob,
    FineTuningJobError,
    FineTuningJobEvent,
    FineTuningJobEventPage,
    FineTuningJobPage,
    OpenAIFile,
    Page,
)

__all__ = [
    "JOB_STATUSES",
    "QUOTA_ERROR_CODES",
    "TERMINAL_JOB_STATUSES",
    "FineTuningHyperparameters",
    "FineTuningJob",
    "FineTuningJobError",
    "FineTuningJobEvent",
    "FineTuningJobEventPage",
    "FineTuningJobPage",
    "OpenAIAPIError",
    "OpenAIAuthError",
    "OpenAIClient",
    "OpenAICreateOutcomeUnknown",
    "OpenAIError",
    "OpenAIFile",
    "OpenAINotFound",
    "OpenAIProtocolError",
    "OpenAIQuotaExceeded",
    "OpenAIRequestRejected",
    "OpenAIUnavailable",
    "Page",
]
