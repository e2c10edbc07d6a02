"""What a SageMaker container reads from its environment, and how it launches torchrun."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from receipts.adapters.sagemaker.container import ContainerEnv, InvalidContainerEnv
from receipts.settings import Settings

DEFAULTS = Settings.model_construct()


def test_the_defaults_are_sagemakers_paths_under_opt_ml() -> None:
    env = ContainerEnv.from_env(DEFAULTS, {"SM_NUM_GPUS": "0"})

    assert env.model_dir == Path("/opt/ml/model")
    assert env.output_dir == Path("/opt/ml/output")
    assert env.output_data_dir == Path("/opt/ml/output/data")
    assert env.channel_dir == Path("/opt/ml/input/data/training")
    assert env.checkpoint_dir == Path("/opt/ml/checkpoints")
    assert env.failure_file == Path("/opt/ml/output/failure")
    assert (env.hosts, env.current_host, env.world_size) == (("algo-1",), "algo-1", 1)


def test_the_toolkits_variables_win(tmp_path: Path) -> None:
    env = ContainerEnv.from_env(
        DEFAULTS,
        {
            "SM_MODEL_DIR": str(tmp_path / "m"),
            "SM_OUTPUT_DATA_DIR": str(tmp_path / "d"),
            "SM_CHANNEL_TRAINING": str(tmp_path / "c"),
            "SM_HPS": json.dumps({"epochs": 3, "merge_amounts": True}),
            "SM_HOSTS": json.dumps(["algo-1", "algo-2"]),
            "SM_CURRENT_HOST": "algo-2",
            "SM_NUM_GPUS": "4",
            "TRAINING_JOB_NAME": "layoutlm-x",
        },
    )

    assert (env.model_dir, env.output_data_dir) == (tmp_path / "m", tmp_path / "d")
    assert env.channel_dir == tmp_path / "c"
    assert env.hyperparameters == {"epochs": 3, "merge_amounts": True}
    assert (env.num_gpus, env.processes_per_host, env.world_size) == (4, 4, 8)
    assert env.training_job_name == "layoutlm-x"


def test_without_the_toolkit_the_files_under_the_root_are_read(tmp_path: Path) -> None:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text('{"epochs": "2"}')
    (config / "resourceconfig.json").write_text(
        '{"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"]}'
    )

    env = ContainerEnv.from_env(Settings(sagemaker_root=tmp_path), {"SM_NUM_GPUS": "1"})

    assert env.hyperparameters == {"epochs": "2"}
    assert env.current_host == "algo-3" and env.world_size == 3
    assert env.model_dir == tmp_path / "model"
    assert env.checkpoint_dir == tmp_path / "checkpoints"


def test_one_host_launches_torchrun_standalone() -> None:
    env = ContainerEnv.from_env(Settings(sagemaker_processes_per_host=2), {"SM_NUM_GPUS": "0"})

    assert env.launch_command("m") == [
        sys.executable,
        *("-m", "torch.distributed.run", "--standalone", "--nnodes", "1"),
        *("--nproc_per_node", "2", "-m", "m"),
    ]


def test_several_hosts_meet_at_the_first_one() -> None:
    env = ContainerEnv.from_env(
        DEFAULTS,
        {"SM_HOSTS": '["algo-1", "algo-2"]', "SM_CURRENT_HOST": "algo-2", "SM_NUM_GPUS": "8"},
    )

    command = env.launch_command("m")

    assert command[command.index("--nnodes") + 1] == "2"
    assert command[command.index("--node_rank") + 1] == "1"
    assert command[command.index("--master_addr") + 1] == "algo-1"
    assert command[command.index("--nproc_per_node") + 1] == "8"
    assert "--standalone" not in command


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SM_HOSTS": "algo-1"}, "SM_HOSTS: not JSON"),
        ({"SM_HOSTS": '"algo-1"'}, "SM_HOSTS: expected a JSON list"),
        ({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-9"}, "'algo-9' is not in SM_HOSTS"),
        ({"SM_NUM_GPUS": "two"}, "SM_NUM_GPUS='two'"),
        ({"SM_HPS": "[1]"}, "hyperparameters: expected a JSON object"),
    ],
)
def test_bad_variables_are_named(variables: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidContainerEnv, match=named.replace("[", r"\[").replace("]", r"\]")):
        ContainerEnv.from_env(DEFAULTS, variables)
