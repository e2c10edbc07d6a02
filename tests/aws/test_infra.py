"""infra/template.yaml: valid for cfn-lint, least-privilege IAM, and in step with the code
(handlers that import, environment variables that settings read, tables shaped as the
adapters create them)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]
from cfnlint.decode.cfn_yaml import load  # type: ignore[import-untyped]
from pydantic import AliasChoices

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.event_store import DynamoDBDatastore
from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore
from receipts.settings import EnvSettings, Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
POLICY_RESOURCES = ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::S3::BucketPolicy")
# actions that have no resource-level permissions: "*" is the only resource they take
RESOURCE_WILDCARD_ONLY = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load(str(TEMPLATE))
    return loaded


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of every identity and resource policy."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
            documents.append(properties["AssumeRolePolicyDocument"])
        elif resource["Type"] in POLICY_RESOURCES:
            documents.append(properties["PolicyDocument"])
        elif resource["Type"] == "AWS::Serverless::Function":
            policies = properties.get("Policies", [])
            documents += [p for p in policies if isinstance(p, dict) and "Statement" in p]
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_finds_nothing_at_any_level() -> None:
    matches = lint_file(TEMPLATE, ManualArgs(include_checks=["I"], regions=["us-east-1"]))

    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_cfn_lint_does_see_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    text = TEMPLATE.read_text().replace("VisibilityTimeout: 900", "VisibilityTimeut: 900")
    broken.write_text(text)

    assert any(m.rule.id == "E3002" for m in lint_file(broken, ManualArgs()))


def test_no_statement_grants_a_wildcard_action(template: dict[str, Any]) -> None:
    statements = list(policy_statements(template))
    assert len(statements) > 20
    for where, statement in statements:
        assert "NotAction" not in statement, where
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{where}: {action}"


def test_only_actions_without_resource_level_permissions_take_any_resource(
    template: dict[str, Any],
) -> None:
    for where, statement in policy_statements(template):
        if statement["Effect"] != "Allow" or "Principal" in statement:
            continue
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= RESOURCE_WILDCARD_ONLY, where


def test_every_function_has_its_own_role_and_its_handler_is_a_real_callable(
    template: dict[str, Any],
) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    code_uri = TEMPLATE.parent / template["Globals"]["Function"]["CodeUri"]
    assert set(functions) == {
        "StartTrainingFunction",
        "QueueExportFunction",
        "ExportResultsFunction",
        "RecoverJobsFunction",
        "OcrResultsFunction",
        "OcrUploadFunction",
        "InferenceCacheGeneratorFunction",
        "InferenceApiFunction",
    }
    roles = set()
    for name, function in functions.items():
        properties = function["Properties"]
        module_name, _, attribute = properties["Handler"].rpartition(".")
        assert (code_uri / (module_name.replace(".", "/") + ".py")).is_file(), name
        handler = getattr(importlib.import_module(module_name), attribute)
        assert callable(handler), name
        roles.add(properties["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(functions)


def read_by(settings: type[EnvSettings]) -> set[str]:
    """The variables `settings` reads: its prefix and each field's name, or the field's aliases."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice) for choice in alias.choices}
        else:
            names.add(alias if isinstance(alias, str) else prefix + name.upper())
    return names


def test_every_environment_variable_is_one_the_code_reads(template: dict[str, Any]) -> None:
    known = read_by(Settings)
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in resources(template, "AWS::Serverless::Function").values():
        variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    sagemaker = {name for name in variables if name.startswith("RECEIPTS_SAGEMAKER_")}

    assert set(variables) - sagemaker <= known
    assert variables["RECEIPTS_MODE"] == "aws"
    for needed in ("DYNAMO_TABLE_NAME", "COREML_EXPORT_JOB_QUEUE_URL", "RECEIPTS_EVENTS_TABLE"):
        assert needed in variables
    try:
        from receipts.adapters.sagemaker.settings import SageMakerSettings
    except ImportError:  # the SageMaker adapter is optional here
        return
    assert sagemaker <= read_by(SageMakerSettings)


def test_every_work_queue_redrives_to_its_own_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    work = {name: q for name, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    targets = [q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] for q in work.values()]

    assert set(work) == {"ExportJobQueue", "ExportResultsQueue", "OcrJobQueue", "OcrResultsQueue"}
    assert len({t["Fn::GetAtt"][0] for t in targets}) == 4
    for target in targets:
        dead_letter = queues[target["Fn::GetAtt"][0]]["Properties"]
        assert "RedrivePolicy" not in dead_letter
        assert dead_letter["MessageRetentionPeriod"] == 1209600
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_sqs_consumers_report_partial_batch_failures(template: dict[str, Any]) -> None:
    for name in ("ExportResultsFunction", "OcrResultsFunction"):
        [event] = template["Resources"][name]["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_rule_sends_sagemaker_training_state_changes_to_queue_export(
    template: dict[str, Any],
) -> None:
    events = template["Resources"]["QueueExportFunction"]["Properties"]["Events"]
    [rule] = events.values()
    pattern = rule["Properties"]["Pattern"]

    assert rule["Type"] == "EventBridgeRule"
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Training Job State Change"]
    assert set(pattern["detail"]["TrainingJobStatus"]) == {"Completed", "Failed", "Stopped"}


def test_the_bucket_is_private_versioned_and_encrypted(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]

    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def _shape(description: dict[str, Any]) -> dict[str, Any]:
    """Key schema, attribute types and indexes: what a template and a live table share."""
    return {
        "keys": sorted((k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]),
        "attributes": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in description["AttributeDefinitions"]
        ),
        "indexes": sorted(
            (
                index["IndexName"],
                tuple(sorted((k["AttributeName"], k["KeyType"]) for k in index["KeySchema"])),
                index["Projection"]["ProjectionType"],
            )
            for index in description.get("GlobalSecondaryIndexes", [])
        ),
    }


def test_the_tables_are_shaped_as_the_adapters_create_them(
    template: dict[str, Any], aws_env: dict[str, str], unique_name: str
) -> None:
    db = client("dynamodb")
    DynamoDBDatastore(f"{unique_name}-events", "Jobs", db).create_table()
    live_events = db.describe_table(TableName=f"{unique_name}-events")["Table"]
    declared = {name: r["Properties"] for name, r in template["Resources"].items()}

    assert _shape(declared["EventsTable"]) == _shape(live_events)
    for table in ("EventsTable", "ReceiptsTable"):
        assert declared[table]["BillingMode"] == "PAY_PER_REQUEST"
        assert declared[table]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert declared[table]["SSESpecification"] == {"SSEEnabled": True}
    DynamoDBLabelStore(f"{unique_name}-single", db).create_table()
    live_single = db.describe_table(TableName=f"{unique_name}-single")["Table"]
    assert _shape(declared["ReceiptsTable"]) == _shape(live_single)
