"""Training-file checks follow the fine-tuning method: preference pairs and reinforcement items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pricing.datasets import analyse_lines, analyse_training_file
from pricing.tokens import count_chat_tokens

O200K = "o200k_base"
USER = {"role": "user", "content": "What is the capital of France?"}
GOOD = {"role": "assistant", "content": "Paris."}
BAD = {"role": "assistant", "content": "Lyon, I believe, though I am not sure at all."}


def pair(**changes: Any) -> dict[str, Any]:
    example: dict[str, Any] = {
        "input": {"messages": [USER], "tools": [], "parallel_tool_calls": True},
        "preferred_output": [GOOD],
        "non_preferred_output": [BAD],
    }
    example.update(changes)
    return example


def lines(*examples: object) -> list[bytes]:
    return [json.dumps(e).encode() + b"\n" for e in examples]


def preference(*examples: object) -> Any:
    return analyse_lines(
        lines(*examples), encoding_name=O200K, max_tokens_per_example=65536, method="preference"
    )


def test_preference__valid_pairs_count_the_input_once_and_both_outputs() -> None:
    stats = preference(*[pair()] * 10)

    assert stats.format == "preference" and stats.format_errors == ()
    per_pair = count_chat_tokens([USER, GOOD], O200K) + count_chat_tokens([BAD], O200K)
    assert stats.n_examples == 10 and stats.billing_tokens == 10 * per_pair
    assert any("ratecard's assumption" in w for w in stats.warnings)


def test_preference__missing_input_and_outputs_are_reported_with_line_numbers() -> None:
    stats = preference(
        pair(),
        pair(input={"messages": []}),
        pair(preferred_output=None),
        {"messages": [USER, GOOD]},  # a chat example is not a preference pair
        pair(non_preferred_output=[USER]),
    )

    found = {p.kind: p.first_lines for p in stats.format_errors}
    assert found["missing_preference_input"] == (2, 4)
    assert found["missing_preference_outputs"] == (3, 4)
    assert found["preference_output_not_assistant"] == (5,)
    assert stats.problem("preference_output_not_assistant") is not None
    assert "line 5" in stats.problem("preference_output_not_assistant").message


def test_preference__input_messages_get_the_chat_message_checks() -> None:
    stats = preference(pair(input={"messages": [{"role": "robot", "content": "hi"}]}))

    assert stats.problem("unrecognized_role") is not None
    assert stats.problem("unrecognized_role").first_lines == (1,)


def reinforcement(*examples: object) -> Any:
    return analyse_lines(
        lines(*examples),
        encoding_name=O200K,
        max_tokens_per_example=65536,
        method="reinforcement",
    )


def test_reinforcement__items_need_messages_but_no_answer_and_keep_reference_fields() -> None:
    item = {
        "messages": [{"role": "developer", "content": "Answer with a city."}, USER],
        "reference_answer": "Paris",
        "tolerance": 0,
    }
    stats = reinforcement(*[item] * 10)

    assert stats.format == "reinforcement" and stats.format_errors == ()
    assert stats.billing_tokens == 10 * (count_chat_tokens(item["messages"], O200K))  # type: ignore[arg-type]
    assert any("billed per hour of training" in w for w in stats.warnings)


def test_reinforcement__an_item_without_messages_is_reported_with_its_line() -> None:
    stats = reinforcement({"messages": [USER]}, {"reference_answer": "Paris"}, {"messages": []})

    problem = stats.problem("missing_messages_list")
    assert problem is not None and problem.first_lines == (2, 3)


def test_supervised__a_preference_pair_is_still_a_format_error() -> None:
    stats = analyse_lines(lines(pair()), encoding_name=O200K, max_tokens_per_example=65536)

    assert stats.format == "chat" and stats.problem("missing_messages_list") is not None


def test_preference__large_files_are_checked_the_same_in_parallel(tmp_path: Path) -> None:
    path = tmp_path / "dpo.jsonl"
    examples = [pair() if i % 50 else pair(preferred_output=[]) for i in range(1, 401)]
    path.write_bytes(b"".join(lines(*examples)))

    serial = analyse_training_file(
        path, encoding_name=O200K, max_tokens_per_example=65536, method="preference", workers=1
    )
    parallel = analyse_training_file(
        path,
        encoding_name=O200K,
        max_tokens_per_example=65536,
        method="preference",
        workers=2,
        parallel_threshold_bytes=1,
        range_bytes=4096,
    )

    assert parallel == serial
    assert serial.problem("missing_preference_outputs").first_lines[:2] == (50, 100)  # type: ignore[union-attr]


def test_analyse__unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fine-tuning method"):
        analyse_lines(lines(pair()), encoding_name=O200K, max_tokens_per_example=10, method="x")  # type: ignore[arg-type]
