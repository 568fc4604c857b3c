"""Volumes read chunk by chunk: Zarr arrays, TIFF stacks and raw binary files, and seeded
blobs written straight to Zarr.

A :class:`LazyVolume` holds only where its data is; every ``volume[box]`` reads that box from
disk (Zarr through ``zarr``, a TIFF stack through tifffile's Zarr interface, a raw file
through ``numpy.memmap``). It pickles as its location, so Dask workers open it themselves.

:func:`blobs_to_zarr` makes a blobs volume larger than memory: Gaussian noise is drawn per
32^3 tile from ``(seed, tile index)``, smoothed with a halo wide enough for the filter, and cut
at the normal quantile of the porosity; every chunk is computed alone, so the volume does not
depend on the chunks, and no step holds more than one chunk and its halo.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> v = blobs_to_zarr(folder / "b.zarr", (40, 40, 40), chunks=16, sigma=2.0, seed=1)
>>> w = blobs_to_zarr(folder / "c.zarr", (40, 40, 40), chunks=(40, 8, 13), sigma=2.0, seed=1)
>>> bool((v[...] == w[...]).all()), abs(float(v[...].mean()) - 0.5) < 0.05
(True, True)
>>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from labkit._checks import check_int, check_positive, check_type

__all__ = ["LazyVolume", "blobs_to_zarr", "open_volume"]

_TILE = 32


class LazyVolume:
    """A 3-D volume on disk, read box by box.

    Use :func:`open_volume` to make one. ``shape``, ``dtype``, ``chunks`` (the natural read
    unit: Zarr's chunks, one TIFF page, or a plane of a raw file) and ``volume[box]`` work as
    on a numpy array.
    """

    def __init__(self, kind: str, path: Path, **options) -> None:
        self.kind = kind
        self.path = Path(path)
        self.options = options
        self._array = None
        array = self._open()
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.chunks = tuple(int(c) for c in getattr(array, "chunks", (1, *self.shape[1:])))

    def _open(self):
        if self._array is None:
            if self.kind == "zarr":
                import zarr

                self._array = zarr.open_array(str(self.path), mode="r")
            elif self.kind == "tiff":
                import tifffile
                import zarr

                store = tifffile.imread(str(self.path), aszarr=True)
                self._array = zarr.open_array(store, mode="r")
            else:
                self._array = np.memmap(self.path, mode="r", **self.options)
        return self._array

    def __getitem__(self, box) -> np.ndarray:
        return np.asarray(self._open()[box])

    def __getstate__(self):
        return {
            "kind": self.kind,
            "path": self.path,
            "options": self.options,
            "shape": self.shape,
            "dtype": self.dtype,
            "chunks": self.chunks,
        }

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        self._array = None

    def __repr__(self) -> str:
        return (
            f"LazyVolume({self.kind}, {str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"
        )


def _tiff_pages_consistent(path: Path) -> None:
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        shapes = {(p.shape, p.dtype) for p in tif.pages}
        if len(shapes) > 1:
            found = sorted(f"{s} {d}" for s, d in shapes)
            raise ValueError(
                f"source {str(path)!r} is a TIFF stack with inconsistent pages "
                f"({', '.join(found)}); every page must have one shape and dtype"
            )


def open_volume(
    source,
    *,
    shape=None,
    dtype=None,
    offset: int = 0,
) -> LazyVolume:
    """Open a volume on disk without reading it.

    Parameters
    ----------
    source : str or path
        A Zarr array (a directory, ``*.zarr``), a TIFF stack (``*.tif``/``*.tiff``, one page per
        plane) or a raw binary file (anything else; ``shape`` and ``dtype`` then required).
    shape, dtype : optional
        Shape (3 ints) and dtype of a raw file, C order.
    offset : int
        Bytes to skip at the start of a raw file (a header).

    Returns
    -------
    LazyVolume

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file, a volume that is not 3-D, a TIFF stack whose pages differ, or a raw
        file whose size does not match ``shape`` and ``dtype``.
    """
    check_type("source", source, (str, os.PathLike))
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source {str(path)!r} does not exist")
    if path.is_dir():
        volume = LazyVolume("zarr", path)
    elif path.suffix.lower() in (".tif", ".tiff"):
        _tiff_pages_consistent(path)
        volume = LazyVolume("tiff", path)
    else:
        if shape is None or dtype is None:
            raise ValueError(
                f"source {str(path)!r} is read as raw binary: give its shape and dtype"
            )
        shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
        dtype = np.dtype(dtype)
        offset = check_int("offset", offset, minimum=0)
        expected = offset + int(np.prod(shape)) * dtype.itemsize
        if path.stat().st_size != expected:
            raise ValueError(
                f"source {str(path)!r} holds {path.stat().st_size} bytes, but shape {shape} of "
                f"{dtype} after {offset} header bytes needs {expected}"
            )
        volume = LazyVolume("raw", path, shape=shape, dtype=dtype, offset=offset)
    if len(volume.shape) != 3:
        raise ValueError(f"source must hold a 3-D volume, got shape {volume.shape}")
    return volume


def _tile_noise(seed: int, tile: tuple[int, int, int]) -> np.ndarray:
    """Standard normal noise of one 32^3 tile, drawn from ``(seed, tile)`` alone."""
    key = [seed] + [t + 2**31 for t in tile]
    return np.random.default_rng(key).standard_normal((_TILE,) * 3, dtype=np.float32)


def _noise(seed: int, lo, hi) -> np.ndarray:
    """The noise field on the box ``[lo, hi)`` (any integers), assembled from its tiles."""
    out = np.empty(tuple(b - a for a, b in zip(lo, hi, strict=True)), dtype=np.float32)
    first = [a // _TILE for a in lo]
    last = [(b - 1) // _TILE for b in hi]
    for tz in range(first[0], last[0] + 1):
        for ty in range(first[1], last[1] + 1):
            for tx in range(first[2], last[2] + 1):
                t0 = np.array([tz, ty, tx]) * _TILE
                a = np.maximum(t0, lo)
                b = np.minimum(t0 + _TILE, hi)
                tile = _tile_noise(seed, (tz, ty, tx))
                out[tuple(slice(i - j, k - j) for i, j, k in zip(a, lo, b, strict=True))] = tile[
                    tuple(slice(i - j, k - j) for i, j, k in zip(a, t0, b, strict=True))
                ]
    return out


def _blobs_chunk(lo, hi, sigma: float, threshold: float, seed: int) -> np.ndarray:
    reach = int(np.ceil(4.0 * sigma))
    noise = _noise(seed, [a - reach for a in lo], [b + reach for b in hi])
    smooth = ndimage.gaussian_filter(noise, sigma=sigma, mode="constant", truncate=4.0)
    core = smooth[tuple(slice(reach, reach + b - a) for a, b in zip(lo, hi, strict=True))]
    return core < threshold


def _smoothed_std(sigma: float) -> float:
    """Standard deviation of unit white noise after ``gaussian_filter`` (truncate 4)."""
    reach = int(np.ceil(4.0 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    return float(np.sqrt(np.sum(kernel**2)) ** 3)


def blobs_to_zarr(
    path,
    shape,
    chunks=128,
    porosity: float = 0.5,
    sigma: float = 4.0,
    seed: int = 0,
    client=None,
    overwrite: bool = False,
):
    """Write a seeded blobs volume (``True`` = pore) to a new Zarr array, chunk by chunk.

    Parameters
    ----------
    path : str or path
        The new Zarr array; an existing one is an error unless ``overwrite``.
    shape : int or 3 ints
        Volume shape.
    chunks : int or 3 ints
        Zarr chunk shape.
    porosity : float
        Expected pore fraction (the noise is cut at its normal quantile).
    sigma : float
        Smoothing width in voxels: the pore size, whatever the volume's size.
    seed : int
        The same seed gives the same volume, whatever ``chunks``.
    client : distributed.Client, optional
        Write the chunks as Dask tasks.
    overwrite : bool
        Replace an array this function wrote before at ``path``.

    Returns
    -------
    zarr.Array
    """
    import zarr

    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),) * 3
    shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
    if isinstance(chunks, (int, np.integer)):
        chunks = (int(chunks),) * 3
    chunks = tuple(check_int(f"chunks[{i}]", c, minimum=1) for i, c in enumerate(chunks))
    check_positive("sigma", sigma)
    check_positive("porosity", porosity)
    if porosity >= 1:
        raise ValueError(f"porosity must lie strictly between 0 and 1, got {porosity}")
    seed = check_int("seed", seed, minimum=0)
    array = zarr.create_array(
        str(path),
        shape=shape,
        chunks=chunks,
        dtype=bool,
        fill_value=False,
        overwrite=overwrite,
    )
    threshold = float(special.ndtri(porosity)) * _smoothed_std(sigma)
    boxes = []
    for z in range(0, shape[0], chunks[0]):
        for y in range(0, shape[1], chunks[1]):
            for x in range(0, shape[2], chunks[2]):
                lo = (z, y, x)
                hi = tuple(min(a + c, s) for a, c, s in zip(lo, chunks, shape, strict=True))
                boxes.append((lo, hi))
    args = (sigma, threshold, seed)
    if client is None:
        for lo, hi in boxes:
            _write_blobs_chunk(array, lo, hi, *args)
    else:
        futures = [client.submit(_write_blobs_chunk, array, lo, hi, *args) for lo, hi in boxes]
        client.gather(futures)
    return array


def _write_blobs_chunk(array, lo, hi, sigma, threshold, seed) -> None:
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    array[box] = _blobs_chunk(lo, hi, sigma, threshold, seed)
