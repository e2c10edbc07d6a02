"""The results file a SageMaker container leaves for the process that launched it.

The container records evaluations and logs in the event store as it trains, but the Job is
ended by whoever started it. When the launcher (SageMakerTrainingBackend) started it, the
container writes the JobResults to `<runs prefix>/<job name>/results.json`, and the
launcher reads them once SageMaker reports the training job Completed.
"""

from __future__ import annotations

from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.job import JobResults

RESULTS_FILE = "results.json"


def results_uri(runs_prefix: str, job_name: str) -> str:
    return str(ArtifactURI.parse(runs_prefix).join(job_name, RESULTS_FILE))


def write_results(
    store: ArtifactStore, runs_prefix: str, job_name: str, results: JobResults
) -> str:
    uri = results_uri(runs_prefix, job_name)
    store.put_bytes(uri, results.model_dump_json(indent=2).encode())
    return uri


def read_results(store: ArtifactStore, runs_prefix: str, job_name: str) -> JobResults | None:
    try:
        data = store.get_bytes(results_uri(runs_prefix, job_name))
    except ArtifactNotFound:
        return None
    return JobResults.model_validate_json(data)
