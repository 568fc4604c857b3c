"""FieldNormaliser against numpy: statistics per mode, transform, inverse, state round trip."""

import io

import numpy as np
import pytest
import torch

from labkit.data import FieldNormaliser

AXES = {"pixel": (0,), "channel": (0, 2, 3), "global": (0, 1, 2, 3)}


def _fields(seed=0, n=7, shape=(2, 5, 6)):
    rng = np.random.default_rng(seed)
    # every channel and grid point has its own mean and spread, so the modes differ
    centre = rng.normal(size=shape) * 3
    spread = rng.uniform(0.5, 4.0, size=shape)
    return centre + spread * rng.normal(size=(n, *shape))


@pytest.mark.parametrize("mode", ["pixel", "channel", "global"])
@pytest.mark.parametrize("center", [True, False])
def test_statistics_and_transform_match_numpy(mode, center):
    x = _fields()
    eps = 1e-3
    mean = x.mean(axis=AXES[mode], keepdims=True)
    std = x.std(axis=AXES[mode], keepdims=True, ddof=1) + eps
    shift = mean if center else np.zeros_like(mean)
    norm = FieldNormaliser(mode, center=center, eps=eps).fit(torch.from_numpy(x))
    np.testing.assert_allclose(norm.scale.numpy(), std[0], rtol=1e-12)
    np.testing.assert_allclose(norm.shift.numpy(), shift[0], rtol=1e-12, atol=1e-14)
    y = norm.transform(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, (x - shift) / std, rtol=1e-12, atol=1e-12)
    back = norm.inverse(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12)


def test_pixel_mode_gives_unit_gaussian_training_fields():
    x = torch.from_numpy(_fields(seed=1)).float()
    y = FieldNormaliser("pixel", eps=0.0).fit(x).transform(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(y.shape[1:]), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(0), torch.ones(y.shape[1:]), atol=1e-5, rtol=0)


def test_rescaling_only_keeps_a_zero_boundary_and_matches_dividing_by_std():
    u = torch.from_numpy(_fields(seed=2)).float()
    u[..., 0, :] = 0
    norm = FieldNormaliser("global", center=False, eps=0.0).fit(u)
    y = norm.transform(u)
    assert torch.all(y[..., 0, :] == 0)
    torch.testing.assert_close(y, u / u.std(), rtol=1e-6, atol=0)


def test_state_dict_survives_a_weights_only_round_trip():
    x = torch.from_numpy(_fields(seed=3)).float()
    norm = FieldNormaliser("channel", center=True, eps=1e-4).fit(x)
    buffer = io.BytesIO()
    torch.save(norm.state_dict(), buffer)
    buffer.seek(0)
    again = FieldNormaliser.from_state_dict(torch.load(buffer, weights_only=True))
    assert (again.mode, again.center, again.eps) == ("channel", True, 1e-4)
    assert torch.equal(again.transform(x), norm.transform(x))


def test_grid_tied_and_grid_free_modes():
    train = torch.from_numpy(_fields(seed=4)).float()
    finer = torch.randn(3, 2, 10, 12)
    with pytest.raises(ValueError, match=r"x must have fields of shape \(2, 5, 6\)"):
        FieldNormaliser("pixel").fit(train).transform(finer)
    for mode in ("channel", "global"):
        norm = FieldNormaliser(mode).fit(train)
        torch.testing.assert_close(norm.transform(finer), (finer - norm.shift) / norm.scale)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="mode must be one of"):
        FieldNormaliser("minmax")
    with pytest.raises(RuntimeError, match="not fitted"):
        FieldNormaliser().transform(torch.zeros(2, 1, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        FieldNormaliser().fit(np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        FieldNormaliser().fit(torch.zeros(1, 1, 3))
