"""How fast Slack hears back from ratecard while a large training-file estimate is counting.

Runs `ratecard serve`'s composition (service + mounted bot, SQLite) and the fake Slack on loopback
ports, shares a generated JSONL file in the fake Slack, starts `/estimate train <model>` on it, and
while that file is being downloaded and counted fires signed slash commands from concurrent
clients. Prints ack latency p50/p99/max (Slack's limit is 3 s) and how long the big estimate took.

    .venv/bin/python bench/bench_slack_ack.py [--mb 200] [--commands 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.bot.harness import ACK_TIMES, SlackStack, running_stack, texts  # noqa: E402

FAST_COMMANDS = [
    ("/estimate", "train gpt-3.5-turbo tokens=100k epochs=3"),
    ("/estimate", "inference gpt-4o-mini prompt=1500 completion=200 per_day=10k vs=gpt-4o"),
    ("/notify", "list"),
    ("/estimate", "help"),
    ("/launch", "gpt-4o-mini"),  # a usage error, answered in the ack
]


def write_training_file(path: Path, megabytes: int) -> int:
    line = (
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are a terse assistant for a billing team."},
                    {
                        "role": "user",
                        "content": "What did the March fine-tuning runs cost, by team? " * 3,
                    },
                    {
                        "role": "assistant",
                        "content": "ML platform $412.20, search $96.00, support $12.75.",
                    },
                ]
            }
        )
        + "\n"
    )
    count = max(1, megabytes * 1024 * 1024 // len(line))
    with path.open("w") as out:
        for _ in range(count):
            out.write(line)
    return count


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def run(stack: SlackStack, args: argparse.Namespace, big: Path) -> None:
    stack.extras.share_file(name="big.jsonl", content=big, user="U0BIG", channel="C0BIG")
    started = time.perf_counter()
    _, big_url = stack.command(
        "/estimate", "train gpt-4o-mini", user="U0BIG", channel="C0BIG", wait=False
    )
    ACK_TIMES.clear()

    def one(i: int) -> float:
        command, text = FAST_COMMANDS[i % len(FAST_COMMANDS)]
        before = len(ACK_TIMES)
        response, _ = stack.command(command, text, user=f"U{i:07d}", channel="C0FAST", wait=False)
        if response.status_code != 200:
            raise RuntimeError(f"{command} {text!r}: HTTP {response.status_code}")
        return ACK_TIMES[before] if len(ACK_TIMES) > before else 0.0

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(one, range(args.commands)))
    during = [t for t in ACK_TIMES]
    busy = not stack.extras.responses_to(big_url)
    stack.wait_idle(timeout=1800)
    big_seconds = time.perf_counter() - started
    answer = texts(stack.last_response(big_url))
    ms = [t * 1000 for t in during]
    print(
        f"large estimate: {big.stat().st_size / 1e6:,.0f} MB file, "
        f"answered after {big_seconds:.1f} s "
        f"({'still counting' if busy else 'finished'} when the burst ended)"
    )
    print(f"  {answer.splitlines()[0]}")
    answers = stack.extras.all_responses()
    failed = sum(1 for a in answers if "not answering" in texts(a) or "went wrong" in texts(a))
    print(f"answers after the ack: {len(answers) - 1} posted, {failed} of them errors")
    print(f"acks under load: {len(ms)} signed commands from {args.concurrency} concurrent clients")
    print(
        f"  p50 {statistics.median(ms):.1f} ms   p99 {percentile(ms, 99):.1f} ms   "
        f"max {max(ms):.1f} ms   "
        f"(Slack's limit: 3000 ms; over it: {sum(1 for m in ms if m > 3000)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the shared training file")
    parser.add_argument("--commands", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ratecard-bench-") as tmp:
        folder = Path(tmp)
        big = folder / "big.jsonl"
        examples = write_training_file(big, args.mb)
        print(f"generated {examples:,} examples ({big.stat().st_size / 1e6:,.0f} MB)")
        with running_stack(f"sqlite:///{folder / 'bench.db'}", folder) as stack:
            run(stack, args, big)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
