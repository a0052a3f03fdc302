"""The shipped history from 2025-05-07 to today, held to shared/reference/openai-2025-2026.md."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from pricing.catalogue import load_catalogue
from pricing.history import PublishedChanges, merge_history
from pricing.prices import PriceVersion, load_builtin_price_book

FT_BATCH_CACHED = "usd_per_1m_ft_batch_cached_input_tokens"
FT_BATCH_INPUT = "usd_per_1m_ft_batch_input_tokens"
FT_BATCH_OUTPUT = "usd_per_1m_ft_batch_output_tokens"


@pytest.fixture(scope="module")
def book():
    return load_builtin_price_book()


def price(book, name: str, as_of: str, field: str) -> D | None:
    day = date.fromisoformat(as_of)
    model = load_catalogue().resolve(name, as_of=day)
    return book.quote(model.id, as_of=day).prices.get(field)


@pytest.mark.parametrize(
    ("name", "as_of", "field", "expected"),
    [
        # o3 before and after the 2025-06-10 cut (section 2; cached $2.50 per 10b).
        ("o3", "2025-06-09", "usd_per_1m_input_tokens", "10.00"),
        ("o3", "2025-06-09", "usd_per_1m_cached_input_tokens", "2.50"),
        ("o3", "2025-06-10", "usd_per_1m_input_tokens", "2.00"),
        ("o3", "2025-06-10", "usd_per_1m_output_tokens", "8.00"),
        ("o3", "2025-06-10", "usd_per_1m_flex_input_tokens", "1.00"),
        ("o3-pro", "2025-06-10", "usd_per_1m_output_tokens", "80.00"),
        # GPT-5 launch prices and the 10% cached rate.
        ("gpt-5", "2025-08-07", "usd_per_1m_input_tokens", "1.25"),
        ("gpt-5", "2025-08-07", "usd_per_1m_cached_input_tokens", "0.125"),
        ("gpt-5-mini", "2025-09-01", "usd_per_1m_output_tokens", "2.00"),
        ("gpt-5-nano", "2025-09-01", "usd_per_1m_batch_input_tokens", "0.025"),
        # Long context, cache writes and Fast.
        ("gpt-5.4", "2026-03-05", "usd_per_1m_long_context_input_tokens", "5.00"),
        ("gpt-5.4", "2026-03-05", "usd_per_1m_batch_long_context_input_tokens", "2.50"),
        ("gpt-5.6", "2026-07-09", "usd_per_1m_input_tokens", "5.00"),
        ("gpt-5.6-sol", "2026-08-21", "usd_per_1m_input_tokens", "4.00"),
        ("gpt-5.6-sol", "2026-12-06", "usd_per_1m_input_tokens", "5.00"),
        ("gpt-5.6-luna", "2026-07-29", "usd_per_1m_input_tokens", "1.00"),
        ("gpt-5.6-luna", "2026-07-30", "usd_per_1m_input_tokens", "0.20"),
        ("gpt-5.6-terra", "2026-07-30", "usd_per_1m_priority_input_tokens", "4.00"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_input_tokens", "0.10"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_cached_input_tokens", "0.01"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_cache_write_tokens", "0.125"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_long_context_output_tokens", "0.75"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_flex_input_tokens", "0.05"),
        ("gpt-6-luna", "2026-12-06", "usd_per_1m_priority_output_tokens", "1.00"),
        ("gpt-6.1-terra", "2026-12-06", "usd_per_1m_cached_input_tokens", "0.05"),
        ("gpt-6.2-sol", "2026-12-06", "usd_per_1m_cache_write_tokens", "2.50"),
        # Reinforcement fine-tuning by the hour, and the o4-mini fine-tune's inference.
        ("o4-mini", "2025-05-08", "usd_per_training_hour", "100.00"),
        ("ft:o4-mini-2025-04-16:acme::x", "2025-06-01", "usd_per_1m_ft_input_tokens", "4.00"),
        # Training prices did not change in the window (section 0 item 4).
        ("gpt-4.1", "2026-12-06", "usd_per_1m_training_tokens", "25.00"),
        ("gpt-4o-mini", "2026-12-06", "usd_per_1m_training_tokens", "3.00"),
        # Mended gaps: batch from launch, fine-tuned batch of the legacy models.
        ("gpt-4o-mini", "2024-07-18", "usd_per_1m_batch_input_tokens", "0.075"),
        ("gpt-4o-2024-08-06", "2024-08-06", "usd_per_1m_batch_output_tokens", "5.00"),
        ("davinci-002", "2024-06-01", "usd_per_1m_ft_batch_input_tokens", "6.00"),
        ("babbage-002", "2024-06-01", "usd_per_1m_ft_batch_output_tokens", "0.90"),
        ("gpt-3.5-turbo-0125", "2024-06-01", "usd_per_1m_ft_batch_output_tokens", "3.00"),
        # Fine-tuned Batch cached input as OpenAI's table lists it (section 4c; 9.4 for the
        # gpt-4o and gpt-4.1 rows that are not half the cached price), from prompt caching's
        # launch on 2024-10-01 or the fine-tune's own, whichever is later.
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-10-01", FT_BATCH_CACHED, "0.075"),
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2026-12-06", FT_BATCH_CACHED, "0.075"),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-10-01", FT_BATCH_CACHED, "0.90"),
        ("ft:gpt-4.1-2025-04-14:acme::x", "2025-04-14", FT_BATCH_CACHED, "0.50"),
        ("ft:gpt-4.1-mini-2025-04-14:acme::x", "2026-12-06", FT_BATCH_CACHED, "0.10"),
        ("ft:gpt-4.1-nano-2025-04-14:acme::x", "2025-05-07", FT_BATCH_CACHED, "0.025"),
        ("ft:o4-mini-2025-04-16:acme::x", "2026-12-06", FT_BATCH_CACHED, "0.50"),
        # Fine-tuned Batch input and output from the fine-tune's launch (section 4c), not from
        # prompt caching's: gpt-4o at the 50% rule the 2024-10-01 table uses (9.4).
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-07-23", FT_BATCH_INPUT, "0.15"),
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-09-30", FT_BATCH_OUTPUT, "0.60"),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-08-20", FT_BATCH_INPUT, "1.875"),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-09-30", FT_BATCH_OUTPUT, "7.50"),
        ("ft:gpt-4o-2024-08-06:acme::x", "2026-12-06", FT_BATCH_OUTPUT, "7.50"),
    ],
)
def test_history__reference_figures(book, name, as_of, field, expected):
    assert price(book, name, as_of, field) == D(expected)


@pytest.mark.parametrize(
    ("name", "as_of", "field"),
    [
        # Unknown stays unknown: no Flex or Fast rate was published for GPT-6.2, no cached price
        # for the pro models, no batch before the Batch API.
        ("gpt-6.2-sol", "2026-12-06", "usd_per_1m_flex_input_tokens"),
        ("gpt-6.2-sol", "2026-12-06", "usd_per_1m_priority_input_tokens"),
        ("gpt-5-pro", "2026-01-01", "usd_per_1m_cached_input_tokens"),
        ("gpt-4.1", "2026-12-06", "usd_per_1m_flex_input_tokens"),
        ("davinci-002", "2024-04-14", "usd_per_1m_ft_batch_input_tokens"),
        # No cached price of any kind before prompt caching (2024-10-01), and none for the
        # fine-tunes whose rows in section 4c have no cached column.
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-09-30", FT_BATCH_CACHED),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-09-30", FT_BATCH_CACHED),
        ("ft:gpt-3.5-turbo-0125:acme::x", "2026-12-06", FT_BATCH_CACHED),
        ("ft:davinci-002:acme::x", "2026-12-06", FT_BATCH_CACHED),
        ("ft:babbage-002:acme::x", "2026-12-06", FT_BATCH_CACHED),
        # No fine-tuned Batch price the day before each fine-tune launched.
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-07-22", FT_BATCH_INPUT),
        ("ft:gpt-4o-mini-2024-07-18:acme::x", "2024-07-22", FT_BATCH_OUTPUT),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-08-19", FT_BATCH_INPUT),
        ("ft:gpt-4o-2024-08-06:acme::x", "2024-08-19", FT_BATCH_OUTPUT),
    ],
)
def test_history__unpublished_prices_stay_unknown(book, name, as_of, field):
    assert price(book, name, as_of, field) is None


def test_history__every_version_names_its_sources(book):
    for version in book.versions:
        assert version.source, version.version
        for model in version.models.values():
            assert model.sources, (version.version, model.model)


def test_history__every_priced_model_is_in_the_catalogue(book):
    catalogue = load_catalogue()
    for version in book.versions:
        assert set(version.models) <= set(catalogue.models), version.version
        for model_id in version.models:
            assert catalogue.models[model_id].released <= version.effective_date, model_id


def test_catalogue__gpt6_has_an_encoding_tiktoken_lacks():
    # tiktoken raises KeyError for gpt-6* (reference section 8): the catalogue decides.
    model = load_catalogue().resolve("gpt-6-luna", as_of=date(2026, 12, 6)).model
    assert model.encoding == "o200k_base"
    assert "tokenizer unpublished" in model.notes


def test_catalogue__gpt5_6_alias_is_sol():
    assert load_catalogue().resolve("gpt-5.6", as_of=date(2026, 12, 6)).id == "gpt-5.6-sol"


def test_catalogue__only_o4_mini_has_reinforcement_and_no_gpt5_is_fine_tunable():
    catalogue = load_catalogue()
    rft = [m.id for m in catalogue.models.values() if "reinforcement" in m.fine_tuning_methods]
    assert rft == ["o4-mini-2025-04-16"]
    assert not any(m.fine_tunable for i, m in catalogue.models.items() if i.startswith("gpt-5"))
    assert not any(m.fine_tunable for i, m in catalogue.models.items() if i.startswith("gpt-6"))


def test_merge_history__published_change_survives_a_newer_shipped_version(book):
    # An operator published a contract price on 2025-09-01, before this ratecard shipped the
    # versions after it: the price holds on later shipped tables, which keep their own news.
    change = PublishedChanges(
        version="contract-2025-09",
        effective_date=date(2025, 9, 1),
        data={
            "version": "contract-2025-09",
            "effective_date": "2025-09-01",
            "source": "contract",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        },
        published_by="ops",
    )
    merged = merge_history(book.versions, [change])
    by_id = {v.version: v for v in merged}
    assert [v.version for v in merged].index("contract-2025-09") == [
        v.version for v in merged
    ].index("2025-08-07") + 1
    latest: PriceVersion = merged[-1]
    assert latest.version == "2026-12-01"
    assert latest.models["gpt-4o-mini-2024-07-18"].prices["usd_per_1m_input_tokens"] == D("0.12")
    assert "gpt-6-luna" in latest.models
    assert by_id["2025-08-07"].models["gpt-4o-mini-2024-07-18"].prices[
        "usd_per_1m_input_tokens"
    ] == D("0.15")


def test_merge_history__a_taken_id_keeps_the_operators_meaning(book):
    change = PublishedChanges(
        version="2026-12-01",
        effective_date=date(2026, 11, 1),
        data={
            "version": "2026-12-01",
            "effective_date": "2026-11-01",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        },
        published_by="ops",
    )
    ids = [v.version for v in merge_history(book.versions, [change])]
    assert ids[-1] == "2026-12-01-shipped"
    assert ids.index("2026-12-01") == ids.index("2026-10-26") + 1
    assert len(ids) == len(set(ids))


def _shipped_files():
    import tomllib
    from importlib import resources

    folder = resources.files("pricing").joinpath("data/prices")
    return [tomllib.loads(f.read_text()) for f in folder.iterdir() if f.name.endswith(".toml")]


def test_check_version_file__a_change_set_is_made_whole_and_diffed():
    from pricing.history import check_version_file

    new = {
        "version": "2026-12-20",
        "effective_date": date(2026, 12, 20),
        "source": "https://openai.com/api/pricing/",
        "notes": "gpt-6-luna cut",
        "changes": {"gpt-6-luna": {"usd_per_1m_input_tokens": "0.08"}},
    }
    version, changes = check_version_file(
        _shipped_files(), new, known_models=load_catalogue().models
    )
    assert version.models["gpt-6-luna"].prices["usd_per_1m_input_tokens"] == D("0.08")
    assert (
        version.models["gpt-4o-mini-2024-07-18"]
        == load_builtin_price_book().latest.models["gpt-4o-mini-2024-07-18"]
    )
    assert [(c.model, c.field, c.old, c.new) for c in changes] == [
        ("gpt-6-luna", "usd_per_1m_input_tokens", D("0.10"), D("0.08"))
    ]


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            {
                "version": "x",
                "effective_date": date(2026, 1, 1),
                "source": "s",
                "changes": {"gpt-6-luna": {"usd_per_1m_input_tokens": "0.08"}},
            },
            "append-only",
        ),
        (
            {
                "version": "y",
                "effective_date": date(2027, 1, 1),
                "source": "s",
                "changes": {"gpt-9": {"usd_per_1m_input_tokens": "0.08"}},
            },
            "not in the catalogue",
        ),
        (
            {
                "version": "z",
                "effective_date": date(2027, 1, 1),
                "source": "s",
                "changes": {"gpt-6-luna": {"usd_per_1m_inptu_tokens": "0.08"}},
            },
            "unknown price field",
        ),
    ],
)
def test_check_version_file__refuses_bad_files(new, message):
    from pricing.errors import InvalidPriceTableError
    from pricing.history import check_version_file

    with pytest.raises(InvalidPriceTableError, match=message):
        check_version_file(_shipped_files(), new, known_models=load_catalogue().models)
