"""Run every benchmark with modest defaults and print one summary table (plus each script's own).

    .venv/bin/python bench/run_all.py            # all of them
    .venv/bin/python bench/run_all.py --only rest,usage

Each script prints its figures and targets; this runner adds wall time and status, and writes the
combined report to bench/out/latest.md so it can be pasted into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES: dict[str, tuple[str, list[str]]] = {
    "dataset": ("bench_dataset.py", ["--size-mb", "200"]),
    "rest": ("bench_rest.py", ["--seconds", "5"]),
    "estimates-read": ("bench_estimates_read.py", []),
    "usage": ("bench_usage.py", []),
    "slack-ack": ("bench_slack_ack.py", []),
    "watcher": ("bench_watcher.py", []),
}


def machine() -> str:
    try:
        import os

        cpus = os.cpu_count()
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(mem) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        cpus, memory = None, "?"
    return (
        f"{platform.processor() or platform.machine()}, {cpus} cores, {memory} RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated subset: " + ",".join(BENCHES))
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(BENCHES)
    report = [f"# ratecard benchmarks\n\nMachine: {machine()}\n"]
    summary: list[tuple[str, float, str]] = []
    for name in chosen:
        script, extra = BENCHES[name]
        path = HERE / script
        if not path.exists():
            summary.append((name, 0.0, "missing"))
            continue
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(path), *extra], capture_output=True, text=True, timeout=1800
        )
        elapsed = time.perf_counter() - started
        status = "ok" if result.returncode == 0 else f"exit {result.returncode}"
        summary.append((name, elapsed, status))
        report.append(
            f"## {name} (`bench/{script} {' '.join(extra)}`)\n\n```\n{result.stdout.strip()}\n```\n"
        )
        if result.returncode != 0:
            report.append(f"stderr:\n```\n{result.stderr.strip()[-3000:]}\n```\n")
        sys.stdout.write(report[-1] if result.returncode == 0 else report[-2] + report[-1])
        sys.stdout.flush()
    table = ["| benchmark | wall time | status |", "|---|---:|---|"]
    table += [f"| {n} | {t:.1f} s | {s} |" for n, t, s in summary]
    report.insert(1, "\n".join(table) + "\n")
    sys.stdout.write("\n" + "\n".join(table) + "\n")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text("\n".join(report))
    return 0 if all(s == "ok" for _, _, s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
