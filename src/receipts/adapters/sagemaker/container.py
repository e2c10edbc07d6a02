"""What a SageMaker training container is told: paths, hyperparameters, hosts, GPUs.

SageMaker's conventions (the `sagemaker-training` toolkit's SM_* variables, or the files
under /opt/ml when a bring-your-own container runs without the toolkit). Every path can be
moved by its variable, and all of them at once by `Settings.sagemaker_root` (tests use tmp).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receipts.settings import Settings

RDZV_PORT = 29500


class InvalidContainerEnv(ValueError):
    pass


@dataclass(frozen=True)
class ContainerEnv:
    model_dir: Path
    """SM_MODEL_DIR: what SageMaker uploads as model.tar.gz (the best model, HF layout)."""
    output_dir: Path
    """SM_OUTPUT_DIR: `failure` here is the training job's FailureReason."""
    output_data_dir: Path
    """SM_OUTPUT_DATA_DIR: other outputs (run.json), uploaded as output.tar.gz."""
    channel_dir: Path
    """SM_CHANNEL_TRAINING: the `training` input channel."""
    checkpoint_dir: Path
    """Synced with CheckpointConfig.S3Uri: what a spot restart finds again."""
    hyperparameters: dict[str, Any]
    hosts: tuple[str, ...]
    current_host: str
    num_gpus: int
    processes_per_host: int
    training_job_name: str | None

    @property
    def world_size(self) -> int:
        return len(self.hosts) * self.processes_per_host

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ContainerEnv:
        """SageMaker's variables from `environ` (default: this process's), ours from
        `settings` (`RECEIPTS_SAGEMAKER_*`)."""
        env = os.environ if environ is None else environ
        root = settings.sagemaker_root

        def path(variable: str, default: Path) -> Path:
            return Path(env[variable]) if env.get(variable) else default

        config_dir = path("SM_INPUT_CONFIG_DIR", root / "input" / "config")
        resources = _json_file(config_dir / "resourceconfig.json") or {}
        hosts = _json_env(env, "SM_HOSTS") or resources.get("hosts") or ["algo-1"]
        current = env.get("SM_CURRENT_HOST") or resources.get("current_host") or hosts[0]
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise InvalidContainerEnv(f"SM_HOSTS: expected a JSON list of names, got {hosts!r}")
        if current not in hosts:
            raise InvalidContainerEnv(f"SM_CURRENT_HOST {current!r} is not in SM_HOSTS {hosts}")
        num_gpus = _int(env, "SM_NUM_GPUS", _cuda_devices())
        per_host = settings.sagemaker_processes_per_host or max(1, num_gpus)
        hyperparameters = _json_env(env, "SM_HPS")
        if hyperparameters is None:
            hyperparameters = _json_file(config_dir / "hyperparameters.json") or {}
        if not isinstance(hyperparameters, dict):
            raise InvalidContainerEnv("hyperparameters: expected a JSON object")
        output_dir = path("SM_OUTPUT_DIR", root / "output")
        return cls(
            model_dir=path("SM_MODEL_DIR", root / "model"),
            output_dir=output_dir,
            output_data_dir=path("SM_OUTPUT_DATA_DIR", output_dir / "data"),
            channel_dir=path("SM_CHANNEL_TRAINING", root / "input" / "data" / "training"),
            checkpoint_dir=settings.sagemaker_checkpoint_dir or root / "checkpoints",
            hyperparameters=hyperparameters,
            hosts=tuple(hosts),
            current_host=current,
            num_gpus=num_gpus,
            processes_per_host=per_host,
            training_job_name=env.get("TRAINING_JOB_NAME") or None,
        )

    def launch_command(self, module: str) -> list[str]:
        """torchrun over every host and process, as SageMaker's PyTorch distribution runs it:
        the first host is the rendezvous point."""
        command = [sys.executable, "-m", "torch.distributed.run"]
        if len(self.hosts) == 1:
            command += ["--standalone", "--nnodes", "1"]
        else:
            command += [
                "--nnodes",
                str(len(self.hosts)),
                "--node_rank",
                str(self.hosts.index(self.current_host)),
                "--master_addr",
                self.hosts[0],
                "--master_port",
                str(RDZV_PORT),
            ]
        return [*command, "--nproc_per_node", str(self.processes_per_host), "-m", module]


def _json_env(env: Mapping[str, str], variable: str) -> Any:
    return _json(env.get(variable) or None, variable)


def _json_file(path: Path) -> Any:
    return _json(path.read_text() if path.is_file() else None, path)


def _json(text: str | None, source: object) -> Any:
    """The JSON value of `text` (None: None), InvalidContainerEnv naming `source` if it is not."""
    try:
        return None if text is None else json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidContainerEnv(f"{source}: not JSON ({error})") from None


def _int(env: Mapping[str, str], variable: str, default: int) -> int:
    text = env.get(variable)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidContainerEnv(f"{variable}={text!r}: not an integer") from None


def _cuda_devices() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    return len(list(Path("/dev").glob("nvidia[0-9]*")))
