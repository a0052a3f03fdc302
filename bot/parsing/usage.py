"""What each command's help and usage errors show."""

from __future__ import annotations

USAGE: dict[str, list[str]] = {
    "/estimate": [
        "`/estimate train <model> tokens=<N> [epochs=<N|auto>] [examples=<N>] "
        "[as_of=<YYYY-MM-DD>]`",
        "`/estimate train <model> file=<OpenAI file id>` — counts an uploaded training file",
        "`/estimate train <model>` — counts the JSONL file you last shared in this channel "
        "(or `file=<Slack file id or link>`)",
        "`/estimate inference <model> prompt=<tokens> completion=<tokens> per_day=<requests> "
        "[vs=<model>,<model>] [cut=90%] [training_tokens=<N>]` — side by side, with break-even",
    ],
    "/launch": [
        "`/launch <model> <training file id> [epochs=<N|auto>] [suffix=<name>] "
        "[validation=<file id>] "
        "[team=<team>] [batch_size=<N>] [lr=<multiplier>] [method=supervised|preference]`",
        "Shows the estimate and the team's remaining budget; nothing starts until "
        "you press *Launch*.",
    ],
    "/notify": [
        "`/notify <job id>` — this channel hears when the job finishes "
        "(`me` for a DM: `/notify me <job id>`)",
        "`/notify all` · `/notify team <name>` — every job, or a team's jobs",
        "`/notify tpm <family> [at=<percent>]` — tokens-per-minute threshold alerts",
        "`/notify fine-tuning [ft:<model>]` — days left before fine-tuned models stop",
        "`/notify list` · `/notify off <subscription id>`",
    ],
}
