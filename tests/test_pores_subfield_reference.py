"""The subfield kernel (queues, parallel deletions, skipped interior voxels) against a
straightforward reference: every voxel of the subfield tested on every sub-iteration, with
connectivity from ``scipy.ndimage.label`` and the Euler characteristic from scikit-image."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number

import labkit.pores as lp
from labkit.pores import subfield
from labkit.pores.subfield import thin_block, thin_subfield

CUBE = np.ones((3, 3, 3), bool)


class Reference:
    """Németh-Kardos-Palágyi 8-subfield thinning with isthmus anchors, voxel by voxel."""

    def __init__(self) -> None:
        self._decisions: dict[bytes, str] = {}

    def decide(self, cube: np.ndarray) -> str:
        """'anchor' (curve isthmus), 'delete' (simple) or 'keep' for a 3x3x3 foreground cube."""
        key = np.packbits(cube).tobytes()
        if key not in self._decisions:
            ring = cube.copy()
            ring[1, 1, 1] = False
            if ndimage.label(ring, CUBE)[1] > 1:
                self._decisions[key] = "anchor"
            elif euler_number(cube, connectivity=3) == euler_number(ring, connectivity=3):
                self._decisions[key] = "delete"
            else:
                self._decisions[key] = "keep"
        return self._decisions[key]

    def thin(self, state: np.ndarray, origin=(0, 0, 0), phase: int = 0, steps: int = -1):
        """Run ``steps`` sub-iterations (-1: until a whole iteration changes nothing) on a
        state block (0 background, 1 foreground, 2 anchored); return the new state."""
        state = np.pad(state.astype(np.uint8), 1)
        index = np.indices(state.shape) - 1 + np.asarray(origin)[:, None, None, None]
        parity = 4 * (index[0] % 2) + 2 * (index[1] % 2) + index[2] % 2
        t, quiet = 0, 0
        while (steps < 0 and quiet < 8) or t < steps:
            k = (phase + t) % 8
            fg = state != 0
            decisions = [
                (z, y, x, self.decide(fg[z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2]))
                for z, y, x in np.argwhere((state == 1) & (parity == k))
            ]
            changed = False
            for z, y, x, what in decisions:
                if what != "keep":
                    state[z, y, x] = 2 if what == "anchor" else 0
                    changed |= what == "delete"
            quiet = 0 if changed else quiet + 1
            t += 1
        return state[1:-1, 1:-1, 1:-1]


def _noise(shape, p, seed):
    return np.random.default_rng(seed).random(shape) < p


@pytest.mark.parametrize(
    "volume",
    [
        lp.blobs(28, porosity=0.4, seed=7),
        lp.blobs((20, 26, 23), porosity=0.5, blobiness=2.0, seed=8),
        lp.tube_network(24, radius=2.0).volume,
        _noise((14, 15, 16), 0.6, 9),  # rough shapes: many neighbourhood configurations
    ],
    ids=["blobs", "odd-blobs", "tubes", "noise"],
)
def test_kernel_equals_the_reference(volume, monkeypatch):
    reference = Reference()
    want = reference.thin(volume)
    assert np.array_equal(thin_subfield(volume), want != 0)
    # a block, from an odd origin and phase, for a few sub-iterations: anchors included
    block = volume[:, 1:, :]
    assert np.array_equal(
        thin_block(block, (3, 1, 2), 5, 11)[0], reference.thin(block, (3, 1, 2), 5, 11)
    )
    # tiny thread-local queues: deletions stop, are emptied and resume many times
    monkeypatch.setattr(subfield, "_LOCAL", 1)
    assert np.array_equal(thin_subfield(volume), want != 0)
