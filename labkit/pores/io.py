"""Load and save pore volumes (``.npy``, raw binary, TIFF stacks) with their voxel size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit._checks import check_int, check_positive, check_type, to_plain
from labkit._io import atomic_write

__all__ = ["Volume", "check_voxel_size", "load_npy", "load_raw", "load_tiff", "save_npy"]


def check_voxel_size(voxel_size) -> tuple[float, float, float]:
    """Return ``voxel_size`` as three positive floats (one per axis).

    Examples
    --------
    >>> check_voxel_size(2.0)
    (2.0, 2.0, 2.0)
    >>> check_voxel_size((1, 1, 0))
    Traceback (most recent call last):
    ...
    ValueError: voxel_size[2] must be positive, got 0
    """
    if isinstance(voxel_size, (int, float, np.integer, np.floating)) and not isinstance(
        voxel_size, bool
    ):
        voxel_size = (voxel_size,) * 3
    check_type("voxel_size", voxel_size, (tuple, list, np.ndarray))
    if len(voxel_size) != 3:
        raise ValueError(f"voxel_size must be a number or 3 numbers, got {len(voxel_size)}")
    sizes = tuple(float(check_positive(f"voxel_size[{i}]", v)) for i, v in enumerate(voxel_size))
    volume = sizes[0] * sizes[1] * sizes[2]
    if not 0.0 < volume < 1e300:
        raise ValueError(
            f"voxel_size {sizes} gives a voxel volume of {volume}, outside the float range; "
            "give the voxel size in a unit that keeps it near 1 (e.g. micrometres)"
        )
    return sizes


@dataclass
class Volume:
    """A loaded volume and its voxel size (z, y, x), in the file's length unit."""

    data: np.ndarray
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    source: str = ""

    def to_dict(self) -> dict:
        return to_plain(
            {
                "shape": self.data.shape,
                "dtype": str(self.data.dtype),
                "voxel_size": self.voxel_size,
                "source": self.source,
            }
        )


def _check_path(path) -> Path:
    check_type("path", path, (str, os.PathLike))
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not an existing file")
    return path


def _check_3d(name: str, data: np.ndarray) -> np.ndarray:
    if data.ndim != 3:
        raise ValueError(f"{name} must hold a 3-D volume, got shape {data.shape}")
    return data


def load_npy(path: str | os.PathLike, voxel_size=1.0) -> Volume:
    """Load a 3-D ``.npy`` volume.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_npy(f"{d}/v.npy", np.ones((2, 3, 4), bool))
    ...     load_npy(f"{d}/v.npy", voxel_size=0.5).to_dict()["voxel_size"]
    [0.5, 0.5, 0.5]
    """
    path = _check_path(path)
    voxel_size = check_voxel_size(voxel_size)
    data = _check_3d("path", np.load(path, allow_pickle=False))
    return Volume(data=data, voxel_size=voxel_size, source=str(path))


def load_raw(
    path: str | os.PathLike,
    shape: tuple[int, int, int],
    dtype="uint8",
    voxel_size=1.0,
    order: str = "C",
) -> Volume:
    """Load a headerless raw binary volume of known shape and dtype.

    The file size must equal ``prod(shape) * dtype.itemsize`` exactly.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.arange(24, dtype=np.uint16).tofile(f"{d}/v.raw")
    ...     int(load_raw(f"{d}/v.raw", (2, 3, 4), "uint16").data[1, 2, 3])
    23
    """
    path = _check_path(path)
    check_type("shape", shape, (tuple, list))
    if len(shape) != 3:
        raise ValueError(f"shape must have 3 entries, got {len(shape)}")
    shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
    dtype = np.dtype(dtype)
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', got {order!r}")
    voxel_size = check_voxel_size(voxel_size)
    expected = int(np.prod(shape)) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"raw file size {actual} bytes does not match shape {shape} and dtype {dtype} "
            f"({expected} bytes)"
        )
    data = np.fromfile(path, dtype=dtype).reshape(shape, order=order)
    return Volume(data=data, voxel_size=voxel_size, source=str(path))


def load_tiff(path: str | os.PathLike, voxel_size=1.0) -> Volume:
    """Load a multi-page TIFF stack as a 3-D volume (pages along the first axis).

    Examples
    --------
    >>> import tempfile, numpy as np, tifffile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tifffile.imwrite(f"{d}/v.tif", np.zeros((5, 6, 7), np.uint8))
    ...     load_tiff(f"{d}/v.tif").data.shape
    (5, 6, 7)
    """
    import tifffile

    path = _check_path(path)
    voxel_size = check_voxel_size(voxel_size)
    try:
        data = np.asarray(tifffile.imread(path))
    except Exception as err:  # noqa: BLE001 - tifffile raises many kinds for bad files
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise ValueError(
            f"path {str(path)!r} is not a readable TIFF stack (truncated, damaged or not a "
            f"TIFF: {type(err).__name__}: {reason}); export the volume again"
        ) from None
    data = _check_3d("path", data)
    return Volume(data=data, voxel_size=voxel_size, source=str(path))


def save_npy(path: str | os.PathLike, volume: np.ndarray) -> Path:
    """Write ``volume`` to ``path`` as ``.npy`` through a temporary file renamed into place.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_npy(f"{d}/v.npy", np.zeros((2, 2, 2), bool)).name
    'v.npy'
    """
    check_type("path", path, (str, os.PathLike))
    check_type("volume", volume, np.ndarray)
    path = Path(path)
    if path.exists() and not _is_volume_npy(path):
        raise ValueError(
            f"path {str(path)!r} already exists and is not a .npy volume; refusing to overwrite "
            "it: choose another path"
        )
    return atomic_write(path, lambda fh: np.save(fh, volume, allow_pickle=False))


def _is_volume_npy(path: Path) -> bool:
    """Whether ``path`` is a ``.npy`` file holding a 3-D array (what :func:`save_npy` writes)."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            shape, _, _ = read(fh)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False
    return len(shape) == 3
