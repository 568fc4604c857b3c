"""PDE datasets larger than memory: made on a Dask cluster into a Zarr store, streamed back.

* :func:`make_store` makes ``n`` pairs of a problem as a chunked, checksummed Zarr store, one
  shard per Dask task (a local cluster by default, or a scheduler address / client); a call on
  a partly made store makes only the missing shards;
* :func:`verify` checks every shard against its SHA-256 and forgets the bad ones, so that the
  next :func:`make_store` remakes them;
* :func:`open_dataset` streams a store into torch (``DataLoader`` workers, DDP ranks, ``fit``);
* :func:`export_hdf5`, :func:`import_hdf5`, :func:`export_pt` trade with other tools;
* :class:`FieldNormaliser` scales fields to order one, fitted on the training set.

The layout is in ``docs/DATA_STORE.md``: zarr alone reads it.
"""

from labkit.data.interchange import export_hdf5, export_pt, import_hdf5
from labkit.data.make import MakeReport, make_store
from labkit.data.normalise import FieldNormaliser
from labkit.data.store import StoreError, read_info, write_store
from labkit.data.stream import StoreDataset, open_dataset
from labkit.data.verify import VerifyReport, verify

__all__ = [
    "FieldNormaliser",
    "MakeReport",
    "StoreDataset",
    "StoreError",
    "VerifyReport",
    "export_hdf5",
    "export_pt",
    "import_hdf5",
    "make_store",
    "open_dataset",
    "read_info",
    "verify",
    "write_store",
]
