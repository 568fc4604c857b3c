"""open_dataset: lazy shards, bounded cache, DataLoader workers, DDP ranks, fit, interchange."""

import os
import pickle
import socket

import h5py
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import zarr
from torch.utils.data import DataLoader, DistributedSampler

from labkit.data import export_hdf5, export_pt, import_hdf5, open_dataset, verify, write_store
from labkit.data.store import StoreError
from labkit.operators import FNO
from labkit.pde import make_dataset
from labkit.train import TrainConfig, fit

N, SHARD = 10, 3


@pytest.fixture(scope="module")
def mem():
    return make_dataset("darcy", N, resolution=17, seed=0, cache_dir=False)


@pytest.fixture(scope="module")
def store(mem, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "darcy"
    write_store(path, mem.inputs, mem.targets, recipe={"problem": "darcy"}, shard_size=SHARD)
    return path


def test_items_equal_memory_and_the_cache_stays_bounded(mem, store):
    ds = open_dataset(store, cache_shards=2)
    for i in [0, 9, 3, 4, 5, 1, 8, 2, 7, 6]:
        x, y = ds[i]
        assert torch.equal(x, mem.inputs[i]) and torch.equal(y, mem.targets[i])
        assert len(ds._cache) <= 2
    assert ds.shards_read >= 4  # 4 shards, visited out of order with room for 2
    sequential = open_dataset(store, cache_shards=1)
    _ = [sequential[i] for i in range(N)]
    assert sequential.shards_read == 4  # each shard read once when read in order
    with pytest.raises(IndexError):
        ds[N]


def test_a_batch_reads_just_its_samples(mem, store):
    ds = open_dataset(store)
    order = [9, 0, 4, 4, -1, 7]
    batch = ds.__getitems__(order)
    for i, (x, y) in zip(order, batch, strict=True):
        assert torch.equal(x, mem.inputs[i]) and torch.equal(y, mem.targets[i])
    assert ds.shards_read == 0 and not ds._cache  # no whole shard decoded


def test_pickles_without_its_cache_and_feeds_dataloader_workers(mem, store):
    ds = open_dataset(store)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._arrays is None and not clone._cache
    loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    x = torch.cat([b[0] for b in loader])
    assert torch.equal(x, mem.inputs)


def test_fit_takes_the_store_unchanged(mem, store):
    def train(data):
        torch.manual_seed(0)
        net = FNO(1, 1, modes=(4, 4), width=8, n_layers=2)
        history = fit(net, data, config=TrainConfig(epochs=2, batch_size=4, device="cpu", seed=3))
        return history.train_loss

    assert train(open_dataset(store)) == train(mem)


def _rank(rank: int, world: int, port: int, path: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    ds = open_dataset(path, cache_shards=1)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=1)
    seen, rows = [], []
    for i in sampler:
        seen.append(int(i))
        rows.append(ds[i][0])
    torch.save({"seen": seen, "x": torch.stack(rows), "reads": ds.shards_read}, out)
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ddp_ranks_read_the_whole_set_without_overlap(mem, tmp_path):
    path = tmp_path / "even"
    write_store(path, mem.inputs, mem.targets, recipe={}, shard_size=1)
    outs = [str(tmp_path / f"rank{r}.pt") for r in range(2)]
    port = free_port()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_rank, args=(r, 2, port, str(path), outs[r])) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = [torch.load(o, weights_only=True) for o in outs]
    a, b = set(got[0]["seen"]), set(got[1]["seen"])
    assert a | b == set(range(N)) and not a & b
    for g in got:
        assert torch.equal(g["x"], mem.inputs[g["seen"]])
        assert g["reads"] == len(g["seen"])  # one-sample shards: each rank read only its own


def test_an_incomplete_store_is_refused(tmp_path):
    x = torch.zeros(4, 1, 3)
    path = write_store(tmp_path / "s", x, x, recipe={}, shard_size=2)
    group = zarr.open_group(str(path), mode="r+")
    group.attrs["shards"] = {"0": group.attrs["shards"]["0"]}
    with pytest.raises(StoreError, match="1 of 2 shards complete"):
        open_dataset(path)
    assert verify(path).missing == [1]


def test_hdf5_round_trip_keeps_bytes_and_recipe(mem, store, tmp_path):
    h5 = export_hdf5(store, tmp_path / "d.h5")
    with h5py.File(h5, "r") as f:  # the documented layout, read with h5py alone
        assert np.array_equal(f["inputs"][:], mem.inputs.numpy())
        assert np.array_equal(f["targets"][:], mem.targets.numpy())
    back = import_hdf5(h5, tmp_path / "back")
    group = zarr.open_group(str(back), mode="r")
    assert group["inputs"][:].tobytes() == mem.inputs.numpy().tobytes()
    assert group.attrs["labkit_data"]["recipe"] == {"problem": "darcy"}
    assert verify(back).ok


def test_pt_export_holds_neuraloperators_x_and_y(mem, store, tmp_path):
    export_pt(store, tmp_path / "darcy_train_17.pt")
    data = torch.load(tmp_path / "darcy_train_17.pt", weights_only=True)
    assert torch.equal(data["x"], mem.inputs[:, 0]) and torch.equal(data["y"], mem.targets[:, 0])


def test_neuraloperator_reads_the_pt_export(mem, store, tmp_path):
    pytest.importorskip("neuralop", reason="neuraloperator is in the bench extra")
    from neuralop.data.datasets.pt_dataset import PTDataset

    for split in ("train", "test"):
        export_pt(store, tmp_path / f"darcy_{split}_17.pt")
    nop = PTDataset(
        root_dir=tmp_path, dataset_name="darcy", n_train=N, n_tests=[3], batch_size=2,
        test_batch_sizes=[2], train_resolution=17, test_resolutions=[17],
        encode_input=False, encode_output=False,
    )
    sample = nop.train_db[4]
    assert torch.equal(sample["x"], mem.inputs[4]) and torch.equal(sample["y"], mem.targets[4])
