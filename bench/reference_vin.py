"""A VIN written the way the public PyTorch ports write it, for speed comparisons only.

One sample per map (every labelled state carries its own image and its own value
iteration), the Q convolution over the concatenated ``[r, v]`` recomputed every
iteration, channels-first tensors. Same parameter count and arithmetic as
:class:`agents.planners.vin.VIN`, so the two differ only in how the work is organised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceVIN(nn.Module):
    """VIN as in the public ports: ``forward(image, rows, cols)`` with B images for B states."""

    def __init__(self, in_channels: int = 2, k: int = 20, ch_h: int = 150, ch_q: int = 10) -> None:
        super().__init__()
        self.k = k
        self.h = nn.Conv2d(in_channels, ch_h, 3, padding=1)
        self.r = nn.Conv2d(ch_h, 1, 1, bias=False)
        self.q = nn.Conv2d(1, ch_q, 3, padding=1, bias=False)
        self.w = nn.Parameter(torch.zeros(ch_q, 1, 3, 3))
        self.fc = nn.Linear(ch_q, 8, bias=False)

    def forward(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        r = self.r(self.h(image))
        q = self.q(r)
        v, _ = torch.max(q, dim=1, keepdim=True)
        weight = torch.cat([self.q.weight, self.w], 1)
        for _ in range(self.k - 1):
            q = F.conv2d(torch.cat([r, v], 1), weight, stride=1, padding=1)
            v, _ = torch.max(q, dim=1, keepdim=True)
        q = F.conv2d(torch.cat([r, v], 1), weight, stride=1, padding=1)
        at_agent = q[torch.arange(q.shape[0]), :, rows, cols]
        return self.fc(at_agent)
