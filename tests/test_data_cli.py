"""``labkit data``: info, verify, export/import, and one line + exit 2 for bad input."""

import json

import pytest
import torch

from labkit.cli import main
from labkit.data import open_dataset, write_store
from labkit.data.verify import chunk_files


@pytest.fixture
def store(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 1, 5, generator=g)
    return write_store(tmp_path / "s", x, 2 * x, recipe={"problem": "demo"}, shard_size=2)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labkit: error: ")
    return err[0]


def test_info_and_verify_report_the_store(store, capsys):
    assert main(["data", "info", str(store)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 6 and info["shards"] == info["shards_complete"] == 3
    assert main(["data", "verify", str(store)]) == 0
    chunk = chunk_files(store, 1)[0]
    chunk.write_bytes(chunk.read_bytes()[:-3])
    assert main(["data", "verify", str(store)]) == 1
    out = capsys.readouterr().out
    assert "bad shard 1 (inputs/c/1/0/0, targets/c/1/0/0)" in out


def test_export_and_import_through_the_cli(store, tmp_path, capsys):
    assert main(["data", "export", str(store), str(tmp_path / "s.h5")]) == 0
    assert main(["data", "import", str(tmp_path / "s.h5"), str(tmp_path / "t")]) == 0
    assert torch.equal(open_dataset(tmp_path / "t")[5][1], open_dataset(store)[5][1])
    capsys.readouterr()
    assert main(["data", "export", str(store), str(tmp_path / "s.txt")]) == 2
    assert ".h5, .hdf5 or .pt" in one_error_line(capsys)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["make", "darcyy", "--n", "2", "--resolution", "9"], "problem must be one of"),
        (["make", "darcy", "--n", "2", "--resolution", "9", "-p", "nu", "1"],
         "unknown parameter(s) for 'darcy'"),
        (["make", "darcy", "--n", "2", "--resolution", "9", "--scheduler",
          "tcp://127.0.0.1:9", "--timeout", "0.5"], "no Dask scheduler answers"),
        (["info"], "not a labkit data store"),
        (["verify"], "not a labkit data store"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    out = str(tmp_path / "new")
    argv = argv + (["--out", out] if argv[0] == "make" else [out])
    assert main(["data", *argv]) == 2
    assert words in one_error_line(capsys)
    assert not (tmp_path / "new").exists()  # nothing left behind


def test_a_file_and_a_store_of_other_parameters_are_refused_untouched(store, tmp_path, capsys):
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    argv = ["data", "make", "darcy", "--n", "6", "--resolution", "9", "--out"]
    assert main([*argv, str(store)]) == 2
    assert "made with other parameters" in one_error_line(capsys)
    assert main([*argv, str(store / "zarr.json")]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
