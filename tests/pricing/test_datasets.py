"""Streaming training-file analysis: cookbook numbers, format checks, bounded memory, processes."""

from __future__ import annotations

import itertools
import json
import random
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.datasets import (
    DatasetStats,
    FormatProblem,
    analyse_lines,
    analyse_training_file,
)
from pricing.errors import DatasetError, PricingError
from pricing.tokens import count_chat_tokens, count_text_tokens, get_encoding

SAMPLE = Path(str(resources.files("pricing") / "data" / "sample_chat.jsonl"))
CL100K = "cl100k_base"


def chat(*pairs: tuple[str, object], **extra: object) -> bytes:
    example = {"messages": [{"role": r, "content": c} for r, c in pairs], **extra}
    return json.dumps(example).encode()


def good(i: int = 0) -> bytes:
    return chat(("system", "You are terse."), ("user", f"question {i}"), ("assistant", f"ok {i}"))


def analyse(lines: list[bytes], cap: int = 4096) -> DatasetStats:
    return analyse_lines(lines, encoding_name=CL100K, max_tokens_per_example=cap)


def problem(stats: DatasetStats, kind: str) -> FormatProblem:
    found = stats.problem(kind)
    assert found is not None, f"no {kind} in {stats.format_errors}"
    return found


# ------------------------------------------------------------------ the cookbook's toy dataset


def test_analyse__toy_dataset_reproduces_cookbook_lengths():
    stats = analyse_training_file(SAMPLE, encoding_name=CL100K, max_tokens_per_example=4096)
    assert stats.format == "chat"
    assert stats.token_lengths == (45, 111, 26, 28, 8032)
    assert stats.n_examples == 5
    assert stats.total_tokens == 8242
    assert stats.billing_tokens == 4306
    assert stats.truncated_examples == 1
    assert stats.truncated_lines == (5,)
    assert (stats.min_tokens, stats.max_tokens, stats.p50_tokens, stats.p90_tokens) == (
        26,
        8032,
        45,
        8032,
    )
    assert stats.mean_tokens == pytest.approx(8242 / 5)
    assert stats.format_errors == ()
    assert stats.bytes_read == SAMPLE.stat().st_size


def test_analyse__toy_dataset_with_16385_cap_bills_everything():
    stats = analyse_training_file(SAMPLE, encoding_name=CL100K, max_tokens_per_example=16385)
    assert stats.token_lengths == (45, 111, 26, 28, 8032)
    assert stats.billing_tokens == 8242
    assert stats.truncated_examples == 0
    assert not any("truncated" in w for w in stats.warnings)


def test_analyse__toy_dataset_assistant_tokens_as_cookbook():
    enc = get_encoding(CL100K)
    expected = 0
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        for m in json.loads(line)["messages"]:
            if m["role"] == "assistant":
                expected += len(enc.encode(m["content"]))
    stats = analyse_training_file(SAMPLE, encoding_name=CL100K, max_tokens_per_example=4096)
    assert stats.assistant_tokens == expected


def test_analyse__toy_dataset_warnings():
    stats = analyse_training_file(SAMPLE, encoding_name=CL100K, max_tokens_per_example=4096)
    truncation = next(w for w in stats.warnings if "truncated" in w)
    assert "4,096" in truncation and "line 5" in truncation
    assert any("at least 10 examples" in w for w in stats.warnings)


def test_analyse__lines_and_file_agree():
    from_lines = analyse_lines(
        SAMPLE.read_bytes().splitlines(keepends=True),
        encoding_name=CL100K,
        max_tokens_per_example=4096,
    )
    from_file = analyse_training_file(SAMPLE, encoding_name=CL100K, max_tokens_per_example=4096)
    assert from_lines == from_file


# ------------------------------------------------------------------ format checks


def test_analyse__invalid_json_reported_with_line_number():
    stats = analyse([good(1), good(2), b'{"messages": [', good(4)])
    p = problem(stats, "invalid_json")
    assert (p.count, p.first_lines) == (1, (3,))
    assert p.message == "1 line is not valid JSON (line 3)"
    assert stats.n_examples == 3
    assert any("1 line was left out" in w for w in stats.warnings)


def test_analyse__invalid_utf8_reported():
    stats = analyse([good(), b'{"messages": "\xff\xfe"}'])
    assert problem(stats, "invalid_utf8").first_lines == (2,)


def test_analyse__blank_lines_reported_but_trailing_newline_is_not():
    stats = analyse([good(1) + b"\n", b"\n", b"   \r\n", good(4) + b"\n"])
    p = problem(stats, "blank_line")
    assert (p.count, p.first_lines) == (2, (2, 3))
    assert stats.n_lines == 4


def test_analyse__missing_content_message_lists_lines():
    lines = [good(i) for i in range(12)]
    for n in (4, 9, 12):
        lines[n - 1] = chat(("user", "q"), ("assistant", ""))
    p = problem(analyse(lines), "missing_content")
    assert p.count == 3
    assert p.first_lines == (4, 9, 12)
    assert p.message == "3 messages have no content (lines 4, 9, 12)"


def ex(*messages: object) -> bytes:
    return json.dumps({"messages": list(messages)}).encode()


ASSISTANT = {"role": "assistant", "content": "y"}


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"[1, 2]", "data_type"),
        (b'"just a string"', "data_type"),
        (b'{"messages": []}', "missing_messages_list"),
        (b'{"messages": "hello"}', "missing_messages_list"),
        (b'{"messages": null}', "missing_messages_list"),
        (b'{"text": "no format keys at all"}', "missing_messages_list"),
        (ex({"role": "user"}, ASSISTANT), "message_missing_key"),
        (ex({"content": "x"}, ASSISTANT), "message_missing_key"),
        (
            ex({"role": "user", "content": "x", "mood": "sad"}, ASSISTANT),
            "message_unrecognized_key",
        ),
        (ex({"role": "robot", "content": "x"}, ASSISTANT), "unrecognized_role"),
        (ex({"role": ["user"], "content": "x"}, ASSISTANT), "unrecognized_role"),
        (ex({"role": "user", "content": 7}, ASSISTANT), "missing_content"),
        (ex({"role": "user", "content": "x"}), "example_missing_assistant_message"),
        (ex("hi", ASSISTANT), "message_data_type"),
    ],
)
def test_analyse__cookbook_format_checks(line, kind):
    stats = analyse([good(1), line, good(3)])
    p = problem(stats, kind)
    assert p.first_lines == (2,)
    assert p.count >= 1
    assert p.message.startswith(f"{p.count} ")
    # Only line 2 is at fault: no other kind may point anywhere else.
    assert all(q.first_lines == (2,) for q in stats.format_errors)


CALL = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
TOOL_CALL = {"id": "call_1", "type": "function", "function": CALL}


@pytest.mark.parametrize(
    "messages",
    [
        # Legacy function calling: content null or left out beside a function_call.
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": None, "function_call": CALL},
        ],
        [{"role": "user", "content": "x"}, {"role": "assistant", "function_call": CALL}],
        # Tools: the call, the tool's answer, the final reply.
        [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"c": 21}'},
            {"role": "assistant", "content": "21 degrees"},
        ],
    ],
)
def test_analyse__function_and_tool_calling_examples_are_valid_and_counted(messages):
    line = json.dumps({"messages": messages}).encode()
    stats = analyse([line])
    assert stats.format_errors == ()
    assert stats.total_tokens == count_chat_tokens(messages, CL100K)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"role": "user", "content": None, "function_call": CALL}, "missing_content"),
        ({"role": "assistant", "content": 7, "function_call": CALL}, "missing_content"),
        ({"role": "assistant", "tool_calls": []}, "message_missing_key"),
        ({"role": "tool", "tool_call_id": "call_1", "content": ""}, "missing_content"),
    ],
)
def test_analyse__calls_excuse_only_an_assistant_messages_missing_text(message, kind):
    line = json.dumps({"messages": [{"role": "user", "content": "x"}, message, ASSISTANT]}).encode()
    assert problem(analyse([line]), kind).first_lines == (1,)


def test_analyse__several_bad_messages_on_one_line_count_each_message_once_per_line():
    line = chat(("user", ""), ("user", ""), ("assistant", "ok"))
    p = problem(analyse([line, line]), "missing_content")
    assert p.count == 4
    assert p.first_lines == (1, 2)


def test_analyse__first_lines_capped_at_ten_and_message_says_more():
    lines = [b"not json"] * 25
    p = problem(analyse([good(), *lines]), "invalid_json")
    assert p.count == 25
    assert p.first_lines == tuple(range(2, 12))
    assert p.message.endswith("(lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 15 more)")


def test_analyse__problems_reported_in_stable_order():
    stats = analyse([b"[]", b"not json", good(), b"\n", chat(("user", "x"))])
    kinds = [p.kind for p in stats.format_errors]
    assert kinds == ["invalid_json", "blank_line", "data_type", "example_missing_assistant_message"]


def test_analyse__deeply_nested_json_is_invalid_not_a_crash():
    stats = analyse([good(), b"[" * 100_000 + b"]" * 100_000])
    assert problem(stats, "invalid_json").first_lines == (2,)


def test_analyse__special_token_text_counts_as_text():
    stats = analyse([chat(("user", "<|endoftext|>"), ("assistant", "<|endofprompt|>"))])
    assert stats.n_examples == 1
    expected = 3 + 3 + 3 + 1 + 1 + count_text_tokens("<|endoftext|>", CL100K)
    expected += count_text_tokens("<|endofprompt|>", CL100K)
    assert stats.total_tokens == expected


def test_analyse__utf8_bom_and_crlf_accepted():
    stats = analyse([b"\xef\xbb\xbf" + good(1) + b"\r\n", good(2) + b"\r\n"])
    assert stats.format_errors == ()
    assert stats.n_examples == 2


# ------------------------------------------------------------------ formats


def completion(prompt: object, completion: object) -> bytes:
    return json.dumps({"prompt": prompt, "completion": completion}).encode()


def test_analyse__prompt_completion_format():
    stats = analyse([completion("Say hi ->", " hi\n"), completion("Say bye ->", " bye\n")])
    assert stats.format == "completion"
    p1 = count_text_tokens("Say hi ->", CL100K) + count_text_tokens(" hi\n", CL100K)
    p2 = count_text_tokens("Say bye ->", CL100K) + count_text_tokens(" bye\n", CL100K)
    assert stats.token_lengths == (p1, p2)
    assert stats.assistant_tokens == count_text_tokens(" hi\n", CL100K) + count_text_tokens(
        " bye\n", CL100K
    )


def test_analyse__missing_prompt_or_completion():
    stats = analyse(
        [completion("a", "b"), b'{"prompt": "only"}', completion("a", 3), b'{"other": 1}']
    )
    p = problem(stats, "missing_prompt_or_completion")
    assert (p.count, p.first_lines) == (3, (2, 3, 4))
    assert stats.n_examples == 1


def test_analyse__mixed_formats_detected_from_first_example():
    stats = analyse([good(1), completion("a", "b"), good(3), completion("c", "d")])
    assert stats.format == "chat"
    p = problem(stats, "mixed_formats")
    assert (p.count, p.first_lines) == (2, (2, 4))
    assert "prompt/completion" in p.message
    assert stats.n_examples == 2

    stats = analyse([b"not json", completion("a", "b"), good(3)])
    assert stats.format == "completion"
    assert problem(stats, "mixed_formats").first_lines == (3,)


# ------------------------------------------------------------------ file-level errors, warnings


def test_analyse__empty_file_raises(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        analyse_training_file(empty, encoding_name=CL100K, max_tokens_per_example=4096)
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n  \n\n")
    with pytest.raises(DatasetError, match="empty"):
        analyse_training_file(blank, encoding_name=CL100K, max_tokens_per_example=4096)
    assert issubclass(DatasetError, PricingError)


def test_analyse__missing_file_and_directory_raise(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        analyse_training_file(tmp_path / "nope", encoding_name=CL100K, max_tokens_per_example=1)
    with pytest.raises(DatasetError, match="directory"):
        analyse_training_file(tmp_path, encoding_name=CL100K, max_tokens_per_example=1)


def test_analyse__bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="encoding"):
        analyse_lines([good()], encoding_name="gpt2", max_tokens_per_example=10)
    with pytest.raises(ValueError, match="max_tokens_per_example"):
        analyse([good()], cap=0)


def test_analyse__fewer_than_ten_examples_is_a_warning_not_an_error():
    nine = analyse([good(i) for i in range(9)])
    assert any("OpenAI requires at least 10 examples" in w for w in nine.warnings)
    assert nine.format_errors == ()
    ten = analyse([good(i) for i in range(10)])
    assert not any("at least 10" in w for w in ten.warnings)


def test_analyse__truncation_bills_the_cap():
    long_text = "word " * 200
    lines = [good(0), chat(("user", long_text), ("assistant", "ok")), good(2)]
    stats = analyse(lines, cap=50)
    assert stats.truncated_examples == 1
    assert stats.truncated_lines == (2,)
    lengths = stats.token_lengths
    assert lengths is not None
    assert stats.billing_tokens == lengths[0] + 50 + lengths[2]
    assert stats.total_tokens == sum(lengths)


def test_analyse__token_lengths_dropped_above_ten_thousand_examples():
    line = chat(("user", "a"), ("assistant", "b"))
    small = analyse([line] * 10_000)
    assert small.token_lengths is not None and len(small.token_lengths) == 10_000
    big = analyse([line] * 10_001)
    assert big.token_lengths is None
    assert big.n_examples == 10_001
    assert big.total_tokens == 10_001 * small.token_lengths[0]


def test_analyse__percentiles_from_histogram():
    lines = [chat(("user", "x " * n), ("assistant", "y")) for n in range(1, 101)]
    stats = analyse(lines, cap=10_000)
    lengths = sorted(stats.token_lengths or ())
    assert stats.p50_tokens == lengths[49]
    assert stats.p90_tokens == lengths[89]


def test_analyse__o200k_encoding():
    stats = analyse_training_file(SAMPLE, encoding_name="o200k_base", max_tokens_per_example=4096)
    expected = [
        count_chat_tokens(json.loads(line)["messages"], "o200k_base")
        for line in SAMPLE.read_text(encoding="utf-8").splitlines()
    ]
    assert stats.token_lengths == tuple(expected)


message_values = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
)
messages_strategy = st.lists(
    st.dictionaries(
        st.sampled_from(["role", "content", "name", "function_call", "weight", "other"]),
        message_values,
        max_size=5,
    )
    | st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": st.text()}
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=messages_strategy)
def test_analyse__counts_exactly_like_count_chat_tokens(messages):
    line = json.dumps({"messages": messages}).encode()
    stats = analyse([line], cap=1_000_000)
    assert stats.total_tokens == count_chat_tokens(messages, CL100K)
    # repeated system prompts hit a cache; the count must not change
    twice = analyse([line, line], cap=1_000_000)
    assert twice.token_lengths == (stats.total_tokens, stats.total_tokens)


# ------------------------------------------------------------------ streaming and processes


def test_analyse__line_too_long_skipped_without_loading(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(good(1) + b"\n" + b"x" * 5000 + b"\n" + b"not json\n" + good(4) + b"\n")
    stats = analyse_training_file(
        path, encoding_name=CL100K, max_tokens_per_example=4096, max_line_bytes=1000
    )
    assert problem(stats, "line_too_long").first_lines == (2,)
    assert problem(stats, "invalid_json").first_lines == (3,)
    assert stats.n_examples == 2
    assert stats.bytes_read == path.stat().st_size


def _generated_file(path: Path, n: int, seed: int = 3) -> dict[str, list[int]]:
    """A chat file of n lines with errors planted at known lines (returned by kind)."""
    rng = random.Random(seed)
    planted: dict[str, list[int]] = {"invalid_json": [], "missing_content": [], "blank_line": []}
    with path.open("wb") as f:
        for line_no in range(1, n + 1):
            roll = rng.random()
            if line_no > n // 2 and roll < 0.01:
                f.write(b'{"messages": [\n')
                planted["invalid_json"].append(line_no)
            elif line_no > n // 2 and roll < 0.02:
                f.write(chat(("user", "q"), ("assistant", "")) + b"\n")
                planted["missing_content"].append(line_no)
            elif roll < 0.025:
                f.write(b"\n")
                planted["blank_line"].append(line_no)
            else:
                words = " ".join(
                    rng.choice(["alpha", "beta", "gamma", "日本", "x1"])
                    for _ in range(rng.randint(1, 80))
                )
                f.write(
                    chat(("system", "Be brief."), ("user", words), ("assistant", words[::-1]))
                    + b"\n"
                )
    return planted


@pytest.mark.slow
def test_analyse__multiprocess_matches_single_process(tmp_path):
    path = tmp_path / "big.jsonl"
    planted = _generated_file(path, 3000)
    size = path.stat().st_size
    kwargs = {"encoding_name": CL100K, "max_tokens_per_example": 60}
    single = analyse_training_file(path, workers=1, **kwargs)
    calls: list[tuple[int, int]] = []
    multi = analyse_training_file(
        path,
        workers=2,
        parallel_threshold_bytes=1,
        range_bytes=16 * 1024,  # ~20 ranges, so errors land in late ranges
        progress=lambda done, total: calls.append((done, total)),
        **kwargs,
    )
    assert multi == single
    for kind, lines in planted.items():
        p = problem(multi, kind)
        assert p.count == len(lines)
        assert p.first_lines == tuple(lines[:10])
    assert min(planted["invalid_json"]) > 1500  # the planted errors really are in later ranges
    assert multi.token_lengths is not None and len(multi.token_lengths) == multi.n_examples
    assert multi.truncated_examples > 0
    assert multi.bytes_read == size
    assert len(calls) > 5
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (size, size)


@pytest.mark.slow
def test_analyse__multiprocess_with_lines_longer_than_a_range(tmp_path):
    path = tmp_path / "long-lines.jsonl"
    lines = [good(i) for i in range(20)]
    lines[7] = chat(("user", "z " * 20_000), ("assistant", "ok"))  # ~40 KB, spans ranges
    lines[13] = b"broken"
    path.write_bytes(b"\n".join(lines))  # and no trailing newline
    kwargs = {"encoding_name": CL100K, "max_tokens_per_example": 4096}
    single = analyse_training_file(path, workers=1, **kwargs)
    multi = analyse_training_file(
        path, workers=2, parallel_threshold_bytes=1, range_bytes=4096, **kwargs
    )
    assert multi == single
    assert problem(multi, "invalid_json").first_lines == (14,)
    assert multi.truncated_lines == (8,)


def test_split__ranges_are_line_aligned_and_cover_the_file(tmp_path):
    from pricing.dataset_files import split_ranges as _split

    path = tmp_path / "f.jsonl"
    data = b"a\n" + b"b" * 1000 + b"\n" + b"c\nd\n" + b"e" * 10
    path.write_bytes(data)
    for n in (1, 2, 3, 7, 50):
        ranges = _split(str(path), len(data), n)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        for (_, end), (start, _) in itertools.pairwise(ranges):
            assert end == start
            assert data[start - 1 : start] == b"\n"
        assert all(s < e for s, e in ranges)


def test_analyse__progress_called_in_process(tmp_path):
    calls: list[tuple[int, int]] = []
    analyse_training_file(
        SAMPLE,
        encoding_name=CL100K,
        max_tokens_per_example=4096,
        progress=lambda done, total: calls.append((done, total)),
    )
    size = SAMPLE.stat().st_size
    assert calls[-1] == (size, size)
