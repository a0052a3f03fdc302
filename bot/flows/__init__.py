"""The command flows, one module per command, each reachable without building the bolt app.

A flow is parse (pure, answered in the ack) then run (after the ack, in the background, answering
through a `Responder`). `bot.app` only wires bolt's listeners to these.
"""
