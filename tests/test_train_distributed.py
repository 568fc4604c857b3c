"""fit under DistributedDataParallel: 2 gloo processes match one process with the same batch."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from labkit.operators import FNO
from labkit.train import GlobalBatchSampler, TrainConfig, fit

SETTINGS = TrainConfig(epochs=2, lr=1e-2, batch_size=8, seed=5, device="cpu")


def data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 1, 32, generator=g)
    return TensorDataset(x, torch.roll(x, 3, dims=-1) + 0.5 * x)


def model() -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, modes=(6,), width=8, n_layers=2)


def worker(rank: int, world: int, port: int, out: str, sync_every: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    net = model()
    history = fit(net, data(), config=SETTINGS.replace(sync_every=sync_every))
    if rank == 0:
        torch.save(
            {
                "params": [p.detach() for p in net.parameters()],
                "loss": history.train_loss,
                "world": history.world_size,
            },
            out,
        )
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    out = str(tmp_path / "ddp.pt")
    # the DDP run reads its (all-reduced) losses back two steps at a time, the reference each step
    mp.spawn(worker, args=(2, free_port(), out, 2), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    single = model()
    history = fit(single, data(), config=SETTINGS)
    assert ddp["world"] == 2 and len(ddp["loss"]) == len(history.train_loss) == 6
    for a, b in zip(ddp["params"], single.parameters(), strict=True):
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(ddp["loss"]), torch.tensor(history.train_loss))


def test_sampler_splits_each_global_batch():
    one = list(GlobalBatchSampler(10, 4, seed=1))
    two = [list(GlobalBatchSampler(10, 4, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert [a + b for a, b in zip(*two, strict=True)] == one
    assert sorted(i for batch in one for i in batch) == list(range(10))
