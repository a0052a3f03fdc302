from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.parsing import (
    Help,
    Inference,
    Launch,
    NotifyAll,
    NotifyJob,
    NotifyList,
    NotifyOff,
    NotifyTeam,
    NotifyTpm,
    TrainFromOpenAIFile,
    TrainFromSlackFile,
    TrainFromTokens,
    UsageError,
    parse_estimate,
    parse_launch,
    parse_notify,
)


@pytest.mark.parametrize("text", ["", "help", "  HELP ", "?"])
def test_estimate__empty_or_help_asks_for_help(text: str) -> None:
    assert parse_estimate(text) == Help("/estimate")


def test_estimate_train__tokens_epochs_and_date() -> None:
    assert parse_estimate(
        "train gpt-3.5-turbo tokens=100000 epochs=3 as_of=2023-09-01"
    ) == TrainFromTokens("gpt-3.5-turbo", 100_000, 3, None, date(2023, 9, 1))


@pytest.mark.parametrize(
    ("typed", "tokens"),
    [("100k", 100_000), ("1.5M", 1_500_000), ("1,000,000", 1_000_000), ("2_500", 2_500)],
)
def test_estimate_train__token_counts_as_people_type_them(typed: str, tokens: int) -> None:
    parsed = parse_estimate(f"train gpt-4o-mini tokens={typed}")
    assert (
        isinstance(parsed, TrainFromTokens) and parsed.tokens == tokens and parsed.epochs == "auto"
    )


def test_estimate_train__openai_file_id_with_or_without_file_key() -> None:
    assert parse_estimate("train gpt-4o-mini file=file-abc123 epochs=2") == TrainFromOpenAIFile(
        "gpt-4o-mini", "file-abc123", 2
    )
    assert parse_estimate("train gpt-4o-mini file-abc123") == TrainFromOpenAIFile(
        "gpt-4o-mini", "file-abc123"
    )


def test_estimate_train__no_source_means_the_file_last_shared_in_the_channel() -> None:
    assert parse_estimate("train gpt-3.5-turbo-0613") == TrainFromSlackFile(
        "gpt-3.5-turbo-0613", None
    )


def test_estimate_train__slack_file_by_id_or_escaped_link() -> None:
    assert parse_estimate("train gpt-4o-mini file=F0123ABCDEF") == TrainFromSlackFile(
        "gpt-4o-mini", "F0123ABCDEF"
    )
    link = "https://files.slack.com/files-pri/T0FAKE-F0123ABCDEF/train.jsonl"
    parsed = parse_estimate(f"train gpt-4o-mini file=<{link}|train.jsonl>")
    assert parsed == TrainFromSlackFile("gpt-4o-mini", link)


def test_estimate_inference__compare_with_cut_and_break_even() -> None:
    parsed = parse_estimate(
        "inference gpt-3.5-turbo prompt=1500 completion=200 per_day=10k vs=gpt-4,gpt-4o-mini "
        "cut=90% training_tokens=1M"
    )
    assert parsed == Inference(
        "gpt-3.5-turbo", 1500, 200, 10_000, ("gpt-4", "gpt-4o-mini"), Decimal("0.9"), 1_000_000
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("train", "which model?"),
        ("train gpt-4o-mini tokens=lots", "tokens= must be a whole number"),
        ("train gpt-4o-mini tokens=-5", "between"),
        ("train gpt-4o-mini tokens=10 epochs=99", "epochs= must be 1-50 or auto"),
        ("train gpt-4o-mini tokens=10 as_of=yesterday", "as_of= must be a date"),
        ("train gpt-4o-mini tokens=10 file=file-x", "not both"),
        ("train gpt-4o-mini tokens=10 colour=blue", "unknown option colour="),
        ("train gpt-4o-mini file=https://evil.example.com/x.jsonl", "Slack file id"),
        ("inference gpt-4o-mini prompt=10", "completion=, per_day="),
        ("inference gpt-4o-mini prompt=1 completion=1 per_day=1 cut=100%", "below 100%"),
        ("inference gpt-4o-mini prompt=1 completion=1 per_day=1 training_tokens=5", "break-even"),
        ("forecast gpt-4o-mini", "use `train` or `inference`"),
        ('train gpt-4o-mini suffix="unclosed', "quotes"),
    ],
)
def test_estimate__bad_input_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_estimate(text)
    assert complaint in caught.value.message
    assert caught.value.command == "/estimate"


def test_launch__model_file_and_options() -> None:
    parsed = parse_launch(
        "gpt-4o-mini file-abc epochs=3 suffix=support-bot validation=file-val team=ml-platform "
        "batch_size=8 lr=0.5"
    )
    assert parsed == Launch(
        "gpt-4o-mini", "file-abc", 3, 8, Decimal("0.5"), "support-bot", "file-val", "ml-platform"
    )
    assert parsed.hyperparameters() == {
        "n_epochs": 3,
        "batch_size": 8,
        "learning_rate_multiplier": 0.5,
    }


def test_launch__curly_quotes_from_slack_clients_are_read_as_quotes() -> None:
    parsed = parse_launch("gpt-4o-mini file-abc suffix=\u201cbot\u201d")
    assert isinstance(parsed, Launch) and parsed.suffix == "bot"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("gpt-4o-mini", "which training file?"),
        ("gpt-4o-mini train.jsonl", "OpenAI file id"),
        ("gpt-4o-mini file-abc validation=val.jsonl", "validation="),
        ("gpt-4o-mini file-abc suffix=has/slash", "suffix="),
        ("gpt-4o-mini file-abc lr=0", "lr="),
        ("gpt-4o-mini file-abc extra", "unexpected words"),
    ],
)
def test_launch__bad_input_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_launch(text)
    assert complaint in caught.value.message


def test_notify__every_form() -> None:
    assert parse_notify("") == Help("/notify")
    assert parse_notify("job_0190abc") == NotifyJob("job_0190abc")
    assert parse_notify("me ftjob-abc123") == NotifyJob("ftjob-abc123", "me")
    assert parse_notify("all") == NotifyAll()
    assert parse_notify("all me") == NotifyAll("me")
    assert parse_notify("team ml-platform") == NotifyTeam("ml-platform")
    assert parse_notify("tpm gpt-3.5-turbo at=85%") == NotifyTpm("gpt-3.5-turbo", 85)
    assert parse_notify("tpm gpt-4o") == NotifyTpm("gpt-4o", None)
    assert parse_notify("list") == NotifyList()
    assert parse_notify("off sub_123") == NotifyOff("sub_123")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("banana", "I don't know 'banana'"),
        ("me", "`me` goes with"),
        ("team", "which team?"),
        ("tpm gpt-4o at=150", "at= must be between 1 and 100"),
        ("off", "which subscription?"),
    ],
)
def test_notify__bad_input_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_notify(text)
    assert complaint in caught.value.message
