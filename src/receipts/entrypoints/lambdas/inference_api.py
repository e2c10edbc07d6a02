"""Lambda `layoutlm-inference` (seed 002's API, `GET /layoutlm_inference`, API Gateway v2).

- no query parameters: the cached `latest.json`; 404 `{"error": "Cache not found"}` when
  the generator has not run yet;
- `receipt_id` or `image_id` (here one id names a receipt and its image), or seed 002's
  pair `image_id` + `receipt_id` where `receipt_id` is the receipt's number within its image
  (digits: the receipt is `image_id`, an image holding one receipt here; otherwise both
  must name the same receipt): the hybrid: the receipt's cached report, else the model runs
  now and the copy is cached. 404 names an unknown receipt, 422 a receipt without VALID
  labels, 503 says no model is configured.

Every answer is JSON with `Access-Control-Allow-Origin: *`. Serving from the cache never
loads a model (the function stays small; torch is imported only on a miss).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from receipts.application.inference.cache import (
    CacheNotFound,
    NoGroundTruth,
    NoModel,
    ReceiptNotFound,
)
from receipts.bootstrap import Runtime
from receipts.bootstrap.inference import (
    NoLabelStore,
    ReportsFactory,
    reports_from_env,
)
from receipts.entrypoints.lambdas.runtime import current_runtime

log = logging.getLogger("receipts.lambdas")

HEADERS = {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
}


def respond(
    event: Mapping[str, Any], runtime: Runtime, reports: ReportsFactory = reports_from_env
) -> dict[str, Any]:
    http = event.get("requestContext")
    http = http.get("http") if isinstance(http, Mapping) else None
    method = str(http.get("method", "GET") if isinstance(http, Mapping) else "GET").upper()
    if method == "OPTIONS":
        return {"statusCode": 204, "headers": HEADERS, "body": ""}
    if method != "GET":
        return _json(405, {"error": f"method {method} not allowed: use GET"})
    params = event.get("queryStringParameters") or {}
    if not isinstance(params, Mapping) or not all(isinstance(v, str) for v in params.values()):
        return _json(400, {"error": "the query string must give one text value per name"})
    receipt_id = (params.get("receipt_id") or "").strip()
    image_id = (params.get("image_id") or "").strip()
    if receipt_id.isdigit() and image_id:
        receipt_id = image_id  # seed 002's (image_id, receipt number): the image's receipt
    if receipt_id and image_id and receipt_id != image_id:
        return _json(
            400,
            {
                "error": "receipt_id and image_id name different receipts; a receipt here has"
                " one id (give either, or image_id with the receipt's number as receipt_id)",
                "receipt_id": receipt_id,
                "image_id": image_id,
            },
        )
    wanted = receipt_id or image_id
    use_cases = reports(runtime)
    if not wanted:
        try:
            return _ok(use_cases.cache.latest().to_json())
        except CacheNotFound:
            return _json(404, {"error": "Cache not found"})
    try:
        outcome = use_cases.hybrid(wanted, model_uri=runtime.settings.inference_model)
    except ReceiptNotFound:
        return _json(404, {"error": f"Receipt not found: {wanted}", "receipt_id": wanted})
    except NoGroundTruth as error:
        return _json(422, {"error": str(error), "receipt_id": wanted})
    except (NoModel, NoLabelStore) as error:
        log.error("layoutlm-inference: %s", error)
        return _json(503, {"error": str(error), "receipt_id": wanted})
    return _ok(outcome.response.to_json())


def _ok(body: bytes) -> dict[str, Any]:
    return {"statusCode": 200, "headers": HEADERS, "body": body.decode()}


def _json(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": HEADERS, "body": json.dumps(body)}


def make_handler(
    runtime: Callable[[], Runtime] = current_runtime, reports: ReportsFactory = reports_from_env
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            return _json(400, {"error": "the event is not a JSON object"})
        return respond(event, runtime(), reports)

    return handle


handler = make_handler()
