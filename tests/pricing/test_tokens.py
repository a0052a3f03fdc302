"""Offline tiktoken: shipped rank files, sha256 checks, cookbook chat counting."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public

from pricing.errors import PricingError, TokenizerIntegrityError
from pricing.tokens import (
    ENCODING_NAMES,
    count_chat_tokens,
    count_text_tokens,
    get_encoding,
    message_tokens,
    verify_encodings,
)

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
# The example conversation of the OpenAI cookbook "How to count tokens with tiktoken", which
# reports 129 prompt tokens for gpt-3.5-turbo-0613/gpt-4 (cl100k) and 124 for gpt-4o (o200k).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


def _shipped_dir() -> Path:
    return Path(str(resources.files("pricing") / "data" / "encodings"))


def _copy_encodings(tmp_path: Path) -> Path:
    target = tmp_path / "encodings"
    shutil.copytree(_shipped_dir(), target)
    return target


def test_get_encoding__shipped_files_have_official_sha256():
    for name, digest in OFFICIAL_SHA256.items():
        data = (_shipped_dir() / f"{name}.tiktoken").read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_get_encoding__same_as_tiktoken_public_definition(name, monkeypatch):
    # Build tiktoken's own definition with its loader pointed at the shipped file, so the
    # comparison needs no network: pattern, special tokens and ranks must all agree.
    def local_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        local = _shipped_dir() / url.rsplit("/", 1)[1]
        return tiktoken.load.load_tiktoken_bpe(str(local), expected_hash)

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", local_load)
    reference = tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())
    ours = get_encoding(name)
    assert ours.name == name
    assert ours._pat_str == reference._pat_str
    assert ours._special_tokens == reference._special_tokens
    assert ours._mergeable_ranks == reference._mergeable_ranks
    text = "Héllo wörld 日本語 can't  12345678\r\n\n  <|endofprompt|> 🙂 x/y\tz"
    assert ours.encode(text, disallowed_special=()) == reference.encode(text, disallowed_special=())


def test_get_encoding__special_token_ids():
    cl100k = get_encoding("cl100k_base")
    assert cl100k.encode_single_token("<|endoftext|>") == 100257
    assert cl100k.encode_single_token("<|fim_prefix|>") == 100258
    assert cl100k.encode_single_token("<|fim_middle|>") == 100259
    assert cl100k.encode_single_token("<|fim_suffix|>") == 100260
    assert cl100k.encode_single_token("<|endofprompt|>") == 100276
    o200k = get_encoding("o200k_base")
    assert o200k.encode_single_token("<|endoftext|>") == 199999
    assert o200k.encode_single_token("<|endofprompt|>") == 200018


def test_get_encoding__cached_per_process():
    assert get_encoding("cl100k_base") is get_encoding("cl100k_base")


def test_get_encoding__concurrent_first_calls_build_once(tmp_path):
    data_dir = _copy_encodings(tmp_path)  # a new cache key, so this really is a first build
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: get_encoding("cl100k_base", data_dir=data_dir), range(8)))
    assert all(r is results[0] for r in results)


def test_get_encoding__tampered_file_rejected(tmp_path):
    data_dir = _copy_encodings(tmp_path)
    path = data_dir / "cl100k_base.tiktoken"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TokenizerIntegrityError, match="sha256"):
        get_encoding("cl100k_base", data_dir=data_dir)
    assert issubclass(TokenizerIntegrityError, PricingError)


def test_get_encoding__missing_file_rejected(tmp_path):
    with pytest.raises(TokenizerIntegrityError, match="unreadable"):
        get_encoding("o200k_base", data_dir=tmp_path)


def test_get_encoding__unknown_encoding_is_value_error():
    with pytest.raises(ValueError, match="r50k_base"):
        get_encoding("r50k_base")


def test_verify_encodings__returns_official_hashes():
    assert verify_encodings() == OFFICIAL_SHA256
    assert set(ENCODING_NAMES) == set(OFFICIAL_SHA256)


def test_verify_encodings__tampered_file_raises(tmp_path):
    data_dir = _copy_encodings(tmp_path)
    with (data_dir / "o200k_base.tiktoken").open("ab") as f:
        f.write(b"\n")
    with pytest.raises(TokenizerIntegrityError, match="o200k_base"):
        verify_encodings(data_dir=data_dir)


def test_count_text_tokens__special_token_text_counts_as_text():
    # tiktoken's default would raise ValueError on this user text
    assert count_text_tokens("<|endoftext|>", "cl100k_base") == 7
    enc = get_encoding("cl100k_base")
    assert count_text_tokens("a <|endoftext|> b", enc) == len(
        enc.encode("a <|endoftext|> b", disallowed_special=())
    )


def test_count_text_tokens__lone_surrogate_does_not_raise():
    text = json.loads('"broken \\ud800 pair"')
    assert count_text_tokens(text, "cl100k_base") > 0


@pytest.mark.parametrize(("name", "expected"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_count_chat_tokens__cookbook_example(name, expected):
    assert count_chat_tokens(COOKBOOK_MESSAGES, name) == expected


def test_count_chat_tokens__toy_dataset_lengths():
    sample = resources.files("pricing") / "data" / "sample_chat.jsonl"
    lines = sample.read_text(encoding="utf-8").splitlines()
    lengths = [count_chat_tokens(json.loads(line)["messages"], "cl100k_base") for line in lines]
    assert lengths == [45, 111, 26, 28, 8032]


def test_count_chat_tokens__formula():
    enc = get_encoding("cl100k_base")

    def n(text: str) -> int:
        return len(enc.encode(text))

    assert count_chat_tokens([], enc) == 3
    one = [{"role": "user", "content": "hello there"}]
    assert count_chat_tokens(one, enc) == 3 + 3 + n("user") + n("hello there")
    named = [{"role": "user", "name": "bob", "content": "hi"}]
    assert count_chat_tokens(named, enc) == 3 + 3 + n("user") + n("bob") + 1 + n("hi")


def test_count_chat_tokens__non_text_values():
    enc = get_encoding("cl100k_base")
    call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    message = {"role": "assistant", "content": None, "function_call": call, "weight": 0}
    serialised = json.dumps(call, separators=(",", ":"))
    expected = 3 + 3 + len(enc.encode("assistant")) + len(enc.encode(serialised))
    assert count_chat_tokens([message], enc) == expected
    assert message_tokens(message, enc) == (expected - 3, 0)


def test_tokens__no_network_empty_cache(tmp_path):
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")

        socket.socket = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from pricing.tokens import count_chat_tokens, count_text_tokens, get_encoding
        print(count_text_tokens("hello world", "cl100k_base"))
        print(count_text_tokens("hello world", "o200k_base"))
        print(count_chat_tokens([{"role": "user", "content": "hi"}], get_encoding("cl100k_base")))
        """
    )
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(cache),
        "DATA_GYM_CACHE_DIR": str(cache),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2", "8"]  # 3 priming + 3 + "user" + "hi"
    assert list(cache.iterdir()) == []
