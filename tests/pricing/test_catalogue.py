from datetime import date

import pytest

from pricing.catalogue import Alias, load_catalogue, model_entry_to_dict, parse_model_entry
from pricing.errors import (
    CatalogueConflictError,
    InvalidCatalogueEntryError,
    ModelNotAvailableError,
    UnknownModelError,
)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.mark.parametrize(
    ("name", "as_of", "expected"),
    [
        ("gpt-3.5-turbo", date(2023, 7, 1), "gpt-3.5-turbo-0613"),
        ("gpt-3.5-turbo", date(2024, 3, 1), "gpt-3.5-turbo-0125"),
        ("gpt-3.5-turbo", date(2023, 6, 26), "gpt-3.5-turbo-0301"),
        ("gpt-4o", date(2024, 10, 1), "gpt-4o-2024-05-13"),
        ("gpt-4o", date(2024, 10, 2), "gpt-4o-2024-08-06"),
        ("gpt-4", date(2023, 9, 1), "gpt-4-0613"),
        ("GPT-4o-mini ", date(2024, 9, 1), "gpt-4o-mini-2024-07-18"),
    ],
)
def test_resolve__alias_as_of_date(catalogue, name, as_of, expected):
    assert catalogue.resolve(name, as_of=as_of).id == expected


def test_resolve__dated_snapshot_is_itself(catalogue):
    resolved = catalogue.resolve("gpt-3.5-turbo-16k-0613", as_of=date(2023, 9, 1))
    assert resolved.id == "gpt-3.5-turbo-16k-0613"
    assert resolved.family == "gpt-3.5-turbo"
    assert not resolved.fine_tuned


def test_resolve__fine_tuned_with_empty_suffix(catalogue):
    r = catalogue.resolve("ft:gpt-3.5-turbo-0613:acme::7p4lURel", as_of=date(2023, 9, 1))
    assert (r.id, r.fine_tuned, r.organization, r.suffix, r.fine_tune_id) == (
        "gpt-3.5-turbo-0613",
        True,
        "acme",
        None,
        "7p4lurel",
    )
    assert r.family == "gpt-3.5-turbo"


def test_resolve__fine_tuned_checkpoint(catalogue):
    r = catalogue.resolve(
        "ft:gpt-4o-mini-2024-07-18:acme:support:9abc:ckpt-step-120", as_of=date(2024, 9, 1)
    )
    assert r.id == "gpt-4o-mini-2024-07-18"
    assert r.suffix == "support"
    assert r.checkpoint_step == 120


def test_resolve__ft_gpt_4_1_uses_o200k_not_tiktokens_prefix_table(catalogue):
    import tiktoken

    name = "ft:gpt-4.1-2025-04-14:acme:bot:Bx1"
    # tiktoken's own prefix table gets this wrong; the catalogue must not.
    assert tiktoken.encoding_name_for_model(name) == "cl100k_base"
    assert catalogue.resolve(name, as_of=date(2025, 6, 1)).encoding == "o200k_base"


def test_resolve__legacy_davinci_fine_tune(catalogue):
    r = catalogue.resolve("davinci:ft-acme-2023-03-01-12-30-00", as_of=date(2023, 5, 1))
    assert r.fine_tuned and r.legacy
    assert r.id == "davinci-002"
    assert r.organization == "acme"


def test_resolve__unknown_model_lists_near_matches(catalogue):
    with pytest.raises(UnknownModelError) as err:
        catalogue.resolve("gpt-35-turbo", as_of=date(2024, 1, 1))
    assert "gpt-3.5-turbo" in err.value.suggestions
    assert "Did you mean" in str(err.value)


def test_resolve__unknown_base_inside_ft_name(catalogue):
    with pytest.raises(UnknownModelError) as err:
        catalogue.resolve("ft:gpt-3.5-trubo-0613:acme::x", as_of=date(2024, 1, 1))
    assert any("gpt-3.5-turbo-0613" in s for s in err.value.suggestions)


def test_resolve__malformed_ft_name(catalogue):
    with pytest.raises(UnknownModelError):
        catalogue.resolve("ft:gpt-3.5-turbo-0613:acme", as_of=date(2024, 1, 1))


def test_resolve__alias_before_it_existed(catalogue):
    with pytest.raises(ModelNotAvailableError):
        catalogue.resolve("gpt-4o", as_of=date(2023, 1, 1))


def test_catalogue__every_priced_model_is_catalogued():
    from pricing.prices import load_builtin_price_book

    catalogue = load_catalogue()
    for version in load_builtin_price_book().versions:
        assert set(version.models) <= set(catalogue.models), version.version


def test_catalogue__fine_tunable_models_have_limits(catalogue):
    assert catalogue.models["gpt-3.5-turbo-0613"].training_example_limit == 4096
    assert catalogue.models["gpt-3.5-turbo-0125"].training_example_limit == 16385
    assert not catalogue.models["gpt-4-32k-0613"].fine_tunable
    assert catalogue.models["babbage-002"].api == "completions"


NEW_MINI = {
    "id": "gpt-4.1-mini-2026-10-01",
    "family": "gpt-4.1-mini",
    "api": "chat",
    "context_window": 1047576,
    "training_example_limit": 65536,
    "encoding": "o200k_base",
    "released": "2026-10-01",
}


def test_extended__new_snapshot_and_alias_move_on_their_date(catalogue):
    entry = parse_model_entry(NEW_MINI)
    bigger = catalogue.extended([entry], [Alias("gpt-4.1-mini", date(2026, 12, 1), entry.id)])
    assert bigger.resolve("gpt-4.1-mini", as_of=date(2026, 11, 30)).id == "gpt-4.1-mini-2025-04-14"
    assert bigger.resolve("gpt-4.1-mini", as_of=date(2026, 12, 1)).id == entry.id
    ft = bigger.resolve("ft:gpt-4.1-mini-2026-10-01:acme::x1", as_of=date(2026, 12, 2))
    assert (ft.id, ft.fine_tuned, ft.encoding, ft.family) == (
        entry.id,
        True,
        "o200k_base",
        "gpt-4.1-mini",
    )
    assert entry.id not in catalogue.models  # the shipped catalogue is untouched


def test_extended__a_new_family_is_its_own_pool(catalogue):
    entry = parse_model_entry({**NEW_MINI, "id": "gpt-5-2026-08-07", "family": "gpt-5"})
    bigger = catalogue.extended([entry], [Alias("gpt-5", date(2026, 12, 1), entry.id)])
    assert "gpt-5" in bigger.families
    assert bigger.resolve("gpt-5", as_of=date(2027, 1, 1)).family == "gpt-5"


def test_extended__published_entries_cannot_be_redefined(catalogue):
    taken = parse_model_entry({**NEW_MINI, "id": "gpt-4o-mini-2024-07-18"})
    with pytest.raises(CatalogueConflictError, match="already in the catalogue"):
        catalogue.extended([taken], [])
    alias_as_id = parse_model_entry({**NEW_MINI, "id": "gpt-3.5-turbo"})
    with pytest.raises(CatalogueConflictError, match="already an alias"):
        catalogue.extended([alias_as_id], [])
    with pytest.raises(CatalogueConflictError, match="only move later"):
        catalogue.extended([], [Alias("gpt-4o", date(2024, 1, 1), "gpt-4o-2024-11-20")])


def test_extended__alias_must_point_at_a_model_and_not_shadow_one(catalogue):
    with pytest.raises(InvalidCatalogueEntryError, match="unknown model"):
        catalogue.extended([], [Alias("gpt-5", date(2026, 12, 1), "gpt-5-2026-08-07")])
    with pytest.raises(InvalidCatalogueEntryError, match="is a model id"):
        catalogue.extended([], [Alias("davinci-002", date(2026, 12, 1), "babbage-002")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "GPT 5"}, "lower case"),
        ({"id": "ft:gpt-5"}, "lower case"),
        ({"encoding": "p50k_base"}, "not shipped"),
        ({"api": "images"}, "api must be one of"),
        ({"context_window": 0}, "positive whole number"),
        ({"context_window": True}, "positive whole number"),
        ({"training_example_limit": 2_000_000}, "exceeds context_window"),
        ({"released": "last tuesday"}, "must be a date"),
        ({"price": "1.00"}, "unknown fields price"),
    ],
)
def test_parse_model_entry__refuses_bad_entries(change, message):
    with pytest.raises(InvalidCatalogueEntryError, match=message):
        parse_model_entry({**NEW_MINI, **change})


def test_parse_model_entry__round_trips(catalogue):
    for model in catalogue.models.values():
        assert parse_model_entry(model_entry_to_dict(model)) == model
