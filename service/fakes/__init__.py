"""Loopback fakes the product itself runs: the fake OpenAI behind ``ratecard serve --demo``.

Fakes only tests use (Slack, a webhook receiver, the fake OpenAI's fault injection) live in
``tests/fakes``.
"""
