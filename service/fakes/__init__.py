"""Loopback fakes of the external services ratecard talks to, for tests and the demo."""
