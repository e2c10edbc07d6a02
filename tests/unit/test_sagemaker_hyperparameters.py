"""A JobConfig as SageMaker's string map of hyperparameters, and back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipts.adapters.sagemaker.hyperparameters import from_hyperparameters, to_hyperparameters
from receipts.domain.config import DataConfig, Hyperparameters, JobConfig, ModelConfig
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import MERGE_PRESETS

SEEDS_EXAMPLE = {
    "epochs": "10",
    "batch_size": "8",
    "learning_rate": "5e-5",
    "warmup_ratio": "0.1",
    "early_stopping_patience": "2",
    "merge_amounts": "true",
}
"""The Lambda payload of the seeds' README."""

texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
paths = st.none() | texts.map(lambda t: "s3://bucket/" + t.strip().replace(",", "_") + ".jsonl")

# a name JSON would decode (null, NaN, 1e5) is a number to SM_HPS: no table is named so
table_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{2,19}", fullmatch=True).filter(
    lambda name: name not in ("null", "true", "false", "NaN", "Infinity")
)


@st.composite
def data_configs(draw: st.DrawFn) -> DataConfig:
    presets = draw(st.lists(st.sampled_from(sorted(MERGE_PRESETS)), unique=True, max_size=2))
    flags = {
        name: draw(st.booleans())
        for name in ("merge_amounts", "merge_date_time", "merge_address_phone")
    }
    reachable = DataConfig(presets=tuple(presets), **flags).entity_labels_before_whitelist()
    allowed = draw(st.lists(st.sampled_from(reachable), unique=True, max_size=4))
    return DataConfig(
        presets=tuple(presets),
        allowed_labels=tuple(allowed),
        validation_split=draw(st.floats(0.01, 0.99)),
        dataset=draw(paths),
        dynamo_table=draw(st.none() | table_names),
        dataset_snapshot_load=draw(paths),
        dataset_snapshot_save=draw(paths),
        **flags,
    )


@st.composite
def job_configs(draw: st.DrawFn) -> JobConfig:
    positive = st.floats(min_value=1e-12, max_value=1.0, allow_nan=False)
    hyperparameters = Hyperparameters(
        epochs=draw(st.integers(1, 1000)),
        batch_size=draw(st.integers(1, 4096)),
        learning_rate=draw(positive),
        warmup_ratio=draw(st.floats(0, 1)),
        label_smoothing=draw(st.floats(0, 0.99)),
        o_entity_ratio=draw(st.none() | st.floats(1e-6, 1e6)),
        early_stopping_patience=draw(st.integers(0, 100)),
        early_stopping_threshold=draw(st.floats(0, 1)),
        gradient_accumulation_steps=draw(st.integers(1, 64)),
        weight_decay=draw(st.floats(0, 10)),
        max_grad_norm=draw(positive),
        seed=draw(st.integers(0, 2**32)),
        num_workers=draw(st.integers(0, 16)),
        mixed_precision=draw(st.sampled_from(["auto", "no", "fp16", "bf16"])),
    )
    max_seq_length = draw(st.integers(16, 512))
    model = ModelConfig(
        model_size=draw(st.sampled_from(["tiny", "small", "base"])),
        pretrained=draw(st.none() | st.sampled_from(["minilm", "/models/layoutlm base"])),
        max_seq_length=max_seq_length,
        stride=draw(st.integers(0, max_seq_length - 3)),
    )
    return JobConfig(hyperparameters=hyperparameters, data=draw(data_configs()), model=model)


@settings(max_examples=200, deadline=None)
@given(job_configs())
def test_config_to_map_to_config_is_the_identity(config: JobConfig) -> None:
    values = to_hyperparameters(config)

    assert all(isinstance(v, str) for v in values.values())
    assert from_hyperparameters(values) == config


@settings(max_examples=100, deadline=None)
@given(job_configs())
def test_the_toolkits_json_decoded_values_give_the_same_config(config: JobConfig) -> None:
    """SM_HPS holds each value JSON-decoded where it can be (10, true, 5e-05)."""
    decoded = {}
    for name, text in to_hyperparameters(config).items():
        try:
            decoded[name] = json.loads(text)
        except ValueError:
            decoded[name] = text

    assert from_hyperparameters(decoded) == config


@settings(max_examples=100, deadline=None)
@given(job_configs())
def test_the_map_is_the_domains_hyperparameter_map(config: JobConfig) -> None:
    assert to_hyperparameters(config) == config.hyperparameter_map()


def test_the_seeds_payload_parses_with_their_names() -> None:
    config = from_hyperparameters(SEEDS_EXAMPLE)

    hp = config.hyperparameters
    assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.warmup_ratio) == (10, 8, 5e-5, 0.1)
    assert hp.early_stopping_patience == 2
    assert config.data.merge_amounts is True
    assert to_hyperparameters(config)["learning_rate"] == "5e-05"


def test_lists_are_comma_joined_and_unset_values_left_out() -> None:
    config = JobConfig.parse({"data": {"allowed_labels": ["DATE", "MERCHANT_NAME"]}})

    values = to_hyperparameters(config)

    assert values["allowed_labels"] == "DATE,MERCHANT_NAME"
    assert "o_entity_ratio" not in values and "pretrained" not in values
    assert "presets" not in values


def test_the_sdks_own_hyperparameters_are_ignored() -> None:
    values = {**SEEDS_EXAMPLE, "sagemaker_program": "train.py", "sagemaker_region": '"us-east-1"'}

    assert from_hyperparameters(values) == from_hyperparameters(SEEDS_EXAMPLE)


def test_unknown_names_and_bad_values_are_each_named() -> None:
    with pytest.raises(InvalidInput) as unknown:
        from_hyperparameters({"lr": "0.1", "epoch": "3"})
    with pytest.raises(InvalidInput) as bad:
        from_hyperparameters({"epochs": "ten", "merge_amounts": "maybe"})

    assert "unknown hyperparameter 'lr'" in str(unknown.value)
    assert "unknown hyperparameter 'epoch'" in str(unknown.value)
    assert "hyperparameters.epochs" in str(bad.value)
    assert "data.merge_amounts" in str(bad.value)
