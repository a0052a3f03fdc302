"""Loopback fakes only the tests and bench scripts use (Slack, a webhook receiver, and the
fake OpenAI's failure-injection knobs); the product's own fake OpenAI is ``service.fakes``."""
