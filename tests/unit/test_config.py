"""A job's configuration: the seeds' defaults, and every bad field named in one error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.config import DataConfig, JobConfig, ModelConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import CORE_LABELS, MERGE_PRESETS, OUTSIDE


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        JobConfig.parse(data)
    assert refused.value.what == "job config"
    return refused.value.problems


def fields_named(problems: list[str]) -> list[str]:
    return sorted(problem.split(":", 1)[0] for problem in problems)


def test_the_defaults_are_the_seeds() -> None:
    config = JobConfig.parse({})

    hp = config.hyperparameters
    assert (hp.epochs, hp.batch_size, hp.learning_rate) == (10, 8, 5e-5)
    assert (hp.warmup_ratio, hp.early_stopping_patience) == (0.1, 2)
    assert config.data.merge_amounts is False
    assert config.data.preset_names == ()


def test_every_bad_field_is_named_in_one_error() -> None:
    problems = problems_of(
        {
            "hyperparameters": {"learning_rate": -1e-5, "batch_size": 0, "warmup_ratio": 1.5},
            "data": {"allowed_labels": ["MERCHANT_NAME", "TIP"], "presets": ["amounts", "bogus"]},
            "model": {"max_seq_length": 128, "stride": 126},
        }
    )

    assert fields_named(problems) == [
        "data.allowed_labels",
        "data.presets",
        "hyperparameters.batch_size",
        "hyperparameters.learning_rate",
        "hyperparameters.warmup_ratio",
        "model",
    ]
    text = "\n".join(problems)
    assert "unknown label TIP" in text
    assert "unknown preset bogus" in text
    assert "stride 126 must be smaller than max_seq_length - 2 (126)" in text


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(InvalidInput) as refused:
        JobConfig.parse({"hyperparameters": {"epochs": 0, "batch_size": -3}})

    message = str(refused.value)
    assert message.startswith("invalid job config: ")
    assert "hyperparameters.epochs" in message
    assert "hyperparameters.batch_size" in message


def test_a_merged_label_needs_its_preset() -> None:
    problems = problems_of({"data": {"allowed_labels": ["AMOUNT", "DATE"]}})

    assert fields_named(problems) == ["data"]
    assert "allowed label AMOUNT cannot occur" in problems[0]


@pytest.mark.parametrize(
    "data",
    [
        {"allowed_labels": ["AMOUNT"], "merge_amounts": True},
        {"allowed_labels": ["AMOUNT"], "presets": ["amounts"]},
        {"allowed_labels": ["AMOUNT", "ADDRESS"], "presets": ["sroie"]},
    ],
)
def test_a_merged_label_is_allowed_with_its_preset(data: dict[str, Any]) -> None:
    assert "AMOUNT" in JobConfig.parse({"data": data}).data.entity_labels()


def test_a_merged_away_label_cannot_be_allowed() -> None:
    problems = problems_of({"data": {"allowed_labels": ["TAX"], "merge_amounts": True}})
    assert "allowed label TAX cannot occur" in problems[0]


def test_outside_is_implicit() -> None:
    problems = problems_of({"data": {"allowed_labels": ["O"]}})
    assert "'O' is implicit" in problems[0]


def test_unknown_fields_are_refused() -> None:
    assert fields_named(problems_of({"hyperparameters": {"epoch": 3}})) == ["hyperparameters.epoch"]


@pytest.mark.parametrize(("length", "stride"), [(512, 509), (128, 125), (16, 13)])
def test_the_largest_stride_that_fits(length: int, stride: int) -> None:
    assert ModelConfig(max_seq_length=length, stride=stride).stride == stride
    with pytest.raises(ValueError, match="stride"):
        ModelConfig(max_seq_length=length, stride=stride + 1)


def test_merge_flags_and_presets_combine_without_repeats() -> None:
    data = DataConfig(presets=("amounts",), merge_amounts=True, merge_date_time=True)
    assert data.preset_names == ("amounts", "date_time")


def test_map_label_merges_then_whitelists() -> None:
    data = DataConfig(merge_amounts=True, allowed_labels=("AMOUNT", "DATE", "MERCHANT_NAME"))

    assert data.map_label("TAX") == "AMOUNT"
    assert data.map_label("GRAND_TOTAL") == "AMOUNT"
    assert data.map_label("DATE") == "DATE"
    assert data.map_label("TIME") == OUTSIDE
    assert data.map_label("PHONE_NUMBER") == OUTSIDE
    assert data.map_label(OUTSIDE) == OUTSIDE
    assert data.entity_labels() == ["AMOUNT", "DATE", "MERCHANT_NAME"]
    assert data.bio_tags() == [
        "O",
        "B-AMOUNT",
        "I-AMOUNT",
        "B-DATE",
        "I-DATE",
        "B-MERCHANT_NAME",
        "I-MERCHANT_NAME",
    ]


def test_without_a_whitelist_every_core_label_is_kept() -> None:
    data = DataConfig()
    assert data.entity_labels() == sorted(CORE_LABELS)
    assert all(data.map_label(label) == label for label in CORE_LABELS)


@st.composite
def data_configs(draw: st.DrawFn) -> DataConfig:
    presets = draw(st.lists(st.sampled_from(sorted(MERGE_PRESETS)), unique=True, max_size=3))
    reachable = DataConfig(presets=tuple(presets)).entity_labels()
    allowed = draw(st.lists(st.sampled_from(reachable), unique=True, max_size=5))
    return DataConfig(presets=tuple(presets), allowed_labels=tuple(allowed))


@given(data=data_configs(), label=st.sampled_from([OUTSIDE, *sorted(CORE_LABELS)]))
def test_map_label_always_gives_outside_or_a_trained_label(data: DataConfig, label: str) -> None:
    mapped = data.map_label(label)
    assert mapped == OUTSIDE or mapped in data.entity_labels()
    assert mapped in [tag.removeprefix("B-") for tag in data.bio_tags()]


def test_the_hyperparameter_map_is_strings_only() -> None:
    config = JobConfig.parse(
        {
            "hyperparameters": {"epochs": 3, "learning_rate": 3e-5},
            "data": {"merge_amounts": True, "presets": ["date_time"], "allowed_labels": ["DATE"]},
            "model": {"pretrained": "microsoft/layoutlm-base-uncased"},
        }
    )

    flat = config.hyperparameter_map()

    assert all(isinstance(k, str) and isinstance(v, str) for k, v in flat.items())
    assert flat["epochs"] == "3"
    assert flat["batch_size"] == "8"
    assert float(flat["learning_rate"]) == 3e-5
    assert flat["warmup_ratio"] == "0.1"
    assert flat["early_stopping_patience"] == "2"
    assert (flat["merge_amounts"], flat["merge_date_time"]) == ("true", "false")
    assert (flat["presets"], flat["allowed_labels"]) == ("date_time", "DATE")
    assert flat["pretrained"] == "microsoft/layoutlm-base-uncased"
    assert "o_entity_ratio" not in flat


def test_the_default_hyperparameter_map_says_merge_amounts_false() -> None:
    flat = JobConfig().hyperparameter_map()
    assert flat["merge_amounts"] == "false"
    assert "allowed_labels" not in flat
    assert "pretrained" not in flat


def test_a_hyperparameter_map_comes_back_as_the_same_config() -> None:
    config = JobConfig.parse(
        {
            "hyperparameters": {"epochs": 3, "o_entity_ratio": 2.5},
            "data": {"presets": ["date_time"], "allowed_labels": ["DATE"], "dataset": "s3://b/d"},
            "model": {"model_size": "tiny", "max_seq_length": 128, "stride": 32},
        }
    )

    assert JobConfig.from_hyperparameter_map(config.hyperparameter_map()) == config
    assert JobConfig.from_hyperparameter_map({}) == JobConfig()


def test_a_hyperparameter_map_names_unknown_names_then_bad_values() -> None:
    with pytest.raises(InvalidInput) as unknown:
        JobConfig.from_hyperparameter_map({"lr": "0.1", "epochs": "ten"})
    with pytest.raises(InvalidInput) as bad:
        JobConfig.from_hyperparameter_map({"epochs": "ten", "stride": 600})

    assert [problem.split(" (known")[0] for problem in unknown.value.problems] == [
        "unknown hyperparameter 'lr'"
    ]
    assert fields_named(bad.value.problems) == ["hyperparameters.epochs", "model"]
