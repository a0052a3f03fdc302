from datetime import date

import pytest

from pricing.catalogue import load_catalogue
from pricing.errors import ModelNotAvailableError, UnknownModelError


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
