"""Reconciliation: OpenAI's Costs API imported daily, reported beside ratecard's own figures."""
