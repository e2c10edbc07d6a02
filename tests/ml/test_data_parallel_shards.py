"""How data-parallel ranks split an epoch's batch plan, and what torchrun's variables mean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("torch")

from receipts.adapters.torch.batching import plan_batches
from receipts.adapters.torch.distributed import Distributed, InvalidDistributedEnv


@given(st.integers(1, 300), st.integers(1, 8), st.integers(1, 4))
def test_every_rank_gets_as_many_batches_and_together_they_cover_the_plan(
    examples: int, batch_size: int, world: int
) -> None:
    plan = plan_batches([10 + i % 7 for i in range(examples)], batch_size, seed=1, epoch=1)
    shards = [Distributed(rank, world).shard(plan) for rank in range(world)]

    assert {len(shard) for shard in shards} == {Distributed(0, world).shard_count(len(plan))}
    interleaved = [shard[i] for i in range(len(shards[0])) for shard in shards]
    assert interleaved[: len(plan)] == plan  # each batch once, then wrapped-round repeats
    covered = {tuple(batch) for shard in shards for batch in shard}
    assert covered == {tuple(batch) for batch in plan}


def test_ranks_take_disjoint_batches_when_the_plan_divides_evenly() -> None:
    plan = [[i] for i in range(6)]

    assert Distributed(0, 3).shard(plan) == [[0], [3]]
    assert Distributed(1, 3).shard(plan) == [[1], [4]]
    assert Distributed(2, 3).shard(plan) == [[2], [5]]


def test_an_uneven_plan_wraps_round_so_the_last_rank_repeats_the_first_batch() -> None:
    plan = [[i] for i in range(5)]

    assert Distributed(0, 2).shard(plan) == [[0], [2], [4]]
    assert Distributed(1, 2).shard(plan) == [[1], [3], [0]]


def test_one_process_keeps_the_plan_and_its_collectives_are_no_ops() -> None:
    single = Distributed.from_env({})
    plan = [[0, 1], [2]]

    assert not single.enabled and single.is_main
    assert single.shard(plan) == plan
    assert single.broadcast("x") == "x" and single.gather(3) == [3]
    assert single.any(True, False) == (True, False)


def test_torchruns_variables_give_the_rank() -> None:
    dist = Distributed.from_env({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})

    assert (dist.rank, dist.world_size, dist.local_rank) == (2, 4, 0)
    assert dist.enabled and not dist.is_main


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "need 0 <= RANK < WORLD_SIZE"),
        ({"WORLD_SIZE": "0"}, "need 0 <= RANK < WORLD_SIZE"),
    ],
)
def test_bad_variables_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidDistributedEnv, match=named):
        Distributed.from_env(env)
