"""Models shared by the landscape benchmarks."""

from __future__ import annotations

import torch


def digits_cnn() -> torch.nn.Module:
    """Two 3x3 convolutions and a linear layer for 8x8 digit images (seeded: the same weights)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10),
    )
