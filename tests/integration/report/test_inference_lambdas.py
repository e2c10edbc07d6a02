"""The inference Lambdas: the API (GET /layoutlm_inference) and the scheduled cache
generator. Their answers on a memory Runtime with a fake model (fast); then the whole path
on the moto server: labels in DynamoDB, the tiny trained model and the cache in S3."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.aws.lambda_support import create_resources
from tests.integration.report.fakes import EchoPredictor

from receipts.adapters.memory.label_store import InMemoryLabelStore
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.inference.cache import (
    LATEST_KEY,
    InferenceReports,
    NoModel,
    receipt_key,
)
from receipts.application.inference.response import InferenceResponse
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.inference import (
    forget_predictors,
    inference_cache,
)
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.entrypoints.lambdas import inference_api, inference_cache_generator
from receipts.entrypoints.lambdas.runtime import reset_runtime
from receipts.settings import Settings

RECEIPTS = generate_receipts(4, seed=12)
NO_TRUTH = RECEIPTS[3].model_copy(
    update={
        "receipt_id": "no-truth",
        "words": tuple(
            w.model_copy(update={"validation_status": ValidationStatus.INVALID})
            if w.label != OUTSIDE
            else w
            for w in RECEIPTS[3].words
        ),
    }
)


def get(**params: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) GET event."""
    return {
        "version": "2.0",
        "routeKey": "GET /layoutlm_inference",
        "rawPath": "/layoutlm_inference",
        "rawQueryString": "&".join(f"{k}={v}" for k, v in params.items()),
        "queryStringParameters": params or None,
        "requestContext": {"http": {"method": "GET", "path": "/layoutlm_inference"}},
        "isBase64Encoded": False,
    }


def body(response: dict[str, Any]) -> Any:
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    return json.loads(response["body"])


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def predictor() -> EchoPredictor:
    return EchoPredictor()


@pytest.fixture
def handlers(runtime: Runtime, predictor: EchoPredictor) -> tuple[Any, Any]:
    def reports(rt: Runtime) -> InferenceReports:
        return InferenceReports(
            labels=InMemoryLabelStore([*RECEIPTS, NO_TRUTH]),
            cache=inference_cache(rt),
            predictor=lambda: predictor,
        )

    return (
        inference_api.make_handler(lambda: runtime, reports),
        inference_cache_generator.make_handler(lambda: runtime, reports),
    )


def test_the_api_says_cache_not_found_until_the_generator_has_run(
    handlers: tuple[Any, Any],
) -> None:
    api, generator = handlers

    missing = api(get(), None)
    assert missing["statusCode"] == 404
    assert body(missing) == {"error": "Cache not found"}

    generated = generator({"seed": 5}, None)
    assert generated["statusCode"] == 200 and generated["body"]["message"] == "Cache updated"
    served = api(get(), None)
    assert served["statusCode"] == 200
    response = InferenceResponse.model_validate(body(served))
    assert response.receipt_id == generated["body"]["receipt_id"]
    assert set(body(served)) >= {"original", "metrics", "model_info", "cached_at"}


def test_a_receipt_is_served_hybrid_and_bad_ids_are_named(
    handlers: tuple[Any, Any], predictor: EchoPredictor
) -> None:
    api, _ = handlers
    wanted = RECEIPTS[1].receipt_id

    first = api(get(receipt_id=wanted), None)
    again = api(get(image_id=wanted), None)
    unknown = api(get(receipt_id="nope"), None)
    no_truth = api(get(receipt_id="no-truth"), None)
    both = api(get(receipt_id=wanted, image_id="other"), None)

    assert first["statusCode"] == again["statusCode"] == 200
    assert body(first) == body(again)
    assert predictor.calls == [wanted]
    assert unknown["statusCode"] == 404
    assert body(unknown) == {"error": "Receipt not found: nope", "receipt_id": "nope"}
    assert no_truth["statusCode"] == 422 and "no VALID labels" in body(no_truth)["error"]
    assert both["statusCode"] == 400
    assert api(get(), None)["statusCode"] == 404  # on demand does not replace latest.json


def test_the_seeds_image_id_and_receipt_number_pair_names_the_image_receipt(
    handlers: tuple[Any, Any], predictor: EchoPredictor
) -> None:
    api, _ = handlers
    wanted = RECEIPTS[2].receipt_id

    # seed 002: `?image_id=<image>&receipt_id=<number of the receipt within the image>`
    paired = api(get(image_id=wanted, receipt_id="1"), None)
    unknown = api(get(image_id="nope", receipt_id="1"), None)

    assert paired["statusCode"] == 200, body(paired)
    assert InferenceResponse.model_validate(body(paired)).receipt_id == wanted
    assert predictor.calls == [wanted]
    assert unknown["statusCode"] == 404 and body(unknown)["receipt_id"] == "nope"


def test_other_methods_are_refused_and_preflight_is_answered(handlers: tuple[Any, Any]) -> None:
    api, _ = handlers
    post = {**get(), "requestContext": {"http": {"method": "POST"}}}
    options = {**get(), "requestContext": {"http": {"method": "OPTIONS"}}}

    assert api(post, None)["statusCode"] == 405
    assert api(options, None)["statusCode"] == 204


def test_the_generator_names_what_it_cannot_report(
    runtime: Runtime, handlers: tuple[Any, Any]
) -> None:
    _, generator = handlers
    unknown = generator({"receipt_id": "nope"}, None)
    assert unknown["statusCode"] == 404 and "nope" in unknown["body"]["error"]

    def no_model() -> EchoPredictor:
        raise NoModel("no model to run: set MODEL_S3_URI")

    api = inference_api.make_handler(
        lambda: runtime,
        lambda rt: InferenceReports(InMemoryLabelStore(RECEIPTS), inference_cache(rt), no_model),
    )
    unavailable = api(get(receipt_id=RECEIPTS[0].receipt_id), None)
    assert unavailable["statusCode"] == 503 and "MODEL_S3_URI" in body(unavailable)["error"]


# -- on the moto server -----------------------------------------------------------------


@pytest.fixture
def aws_functions(
    aws_env: dict[str, str],
    moto_endpoint: str,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Fresh tables and bucket, the held-out receipts in the label table, the tiny model in
    the bucket; the functions' environment set, their cached Runtime and model reset."""
    from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
    from receipts.adapters.s3.artifact_store import S3ArtifactStore

    env = create_resources(moto_endpoint)
    labels = DynamoDBLabelStore(env["DYNAMO_TABLE_NAME"])
    labels.create_table()
    labels.put([*RECEIPTS, NO_TRUTH])
    model_uri = f"s3://{env['LAYOUTLM_TRAINING_BUCKET']}/models/tiny/best/"
    S3ArtifactStore().upload_dir(tiny_model, model_uri)
    env["MODEL_S3_URI"] = model_uri
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("S3_CACHE_BUCKET", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reset_runtime()
    forget_predictors()
    yield env
    reset_runtime()
    forget_predictors()


def s3_object(bucket: str, key: str) -> bytes:
    from receipts.adapters.aws_clients import client

    data: bytes = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_on_aws_the_generator_fills_the_cache_and_the_api_serves_it(
    aws_functions: dict[str, str],
) -> None:
    bucket = aws_functions["LAYOUTLM_TRAINING_BUCKET"]
    assert inference_api.handler(get(), None)["statusCode"] == 404

    generated = inference_cache_generator.handler({"seed": 1}, None)

    assert generated["statusCode"] == 200, generated
    receipt_id = generated["body"]["receipt_id"]
    assert receipt_id in {r.receipt_id for r in RECEIPTS}
    latest = InferenceResponse.from_json(s3_object(bucket, LATEST_KEY))
    assert latest.model_info.s3_uri == aws_functions["MODEL_S3_URI"]
    assert latest.metrics.label_map.get("GRAND_TOTAL") == "AMOUNT"
    assert latest.metrics.overall_accuracy > 0.5
    served = inference_api.handler(get(), None)
    assert served["statusCode"] == 200
    assert InferenceResponse.model_validate(body(served)) == latest


def test_on_aws_an_uncached_receipt_runs_the_model_once_and_is_cached(
    aws_functions: dict[str, str],
) -> None:
    bucket = aws_functions["LAYOUTLM_TRAINING_BUCKET"]
    wanted = RECEIPTS[2].receipt_id

    first = inference_api.handler(get(receipt_id=wanted), None)
    cached = s3_object(bucket, receipt_key(wanted))
    second = inference_api.handler(get(receipt_id=wanted), None)
    unknown = inference_api.handler(get(receipt_id="nope"), None)

    assert first["statusCode"] == second["statusCode"] == 200
    assert InferenceResponse.from_json(cached) == InferenceResponse.model_validate(body(first))
    assert body(second) == body(first)
    assert unknown["statusCode"] == 404 and body(unknown)["receipt_id"] == "nope"


def test_on_aws_the_cache_bucket_can_be_its_own(
    aws_functions: dict[str, str], unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from receipts.adapters.s3.artifact_store import S3ArtifactStore

    S3ArtifactStore().create_bucket(unique_name)
    monkeypatch.setenv("S3_CACHE_BUCKET", unique_name)

    assert (
        inference_cache_generator.handler({"receipt_id": RECEIPTS[0].receipt_id}, None)[
            "statusCode"
        ]
        == 200
    )
    assert InferenceResponse.from_json(s3_object(unique_name, LATEST_KEY)).receipt_id == (
        RECEIPTS[0].receipt_id
    )
    assert body(inference_api.handler(get(), None))["original"]["receipt"]["receipt_id"] == (
        RECEIPTS[0].receipt_id
    )
