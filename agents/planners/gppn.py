"""The Gated Path Planning Network (GPPN, Lee et al., ICML 2018), planning once per map.

GPPN keeps the VIN's shape (a recurrence over the map, then attention on the agent's cell) and
replaces value iteration's max over Q channels by an LSTM update: every cell carries an LSTM
state ``(h, c)`` of ``ch_h`` channels, started from convolutions of the map, and each of the
``k`` iterations feeds each cell's LSTM one input, a ``kernel_size`` x ``kernel_size``
convolution of the hidden map (what the cell's neighbours hold):

    x = hidden_conv(image)                 (3x3, ch_h channels)
    h, c = h0_conv(x), c0_conv(x)          (3x3 each)
    repeat k times:  h, c = LSTMCell(gather_conv(h), (h, c))    (gather: ch_h -> 1 channel)
    features = h at the agent's cell       (SB3's action net: the linear layer to 8 logits)

The gates let information travel along a corridor without the geometric shrinking or growth of a
value kernel whose weights are learned (the VIN's long-path failure), and weights are tied
across iterations as in value iteration, so ``k`` can differ at test time. Exposed exactly like
the VIN: :class:`GPPNExtractor` (plans once per distinct map, with the plan cache of
:class:`agents.policies.extractors.PlanningExtractor`) and :class:`GPPNPolicy` / :class:`MaskableGPPNPolicy`
for PPO, MaskablePPO and the BC trainer (``BCConfig(policy="gppn")``).
"""

from __future__ import annotations

import torch
from torch import nn


class GPPN(nn.Module):
    """Map convolutions, ``k`` tied LSTM iterations over the cells, attention.

    :param in_channels: observation channels (obstacles, goal).
    :param k: iterations (information moves ``kernel_size // 2`` cells per iteration).
    :param ch_h: LSTM channels per cell (the paper's 150; the features' dimension).
    :param kernel_size: the gather convolution's kernel (odd; the paper's f).
    """

    def __init__(self, in_channels: int = 2, k: int = 20, ch_h: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k (iterations) must be >= 1, got {k}")
        if ch_h < 1:
            raise ValueError(f"ch_h must be >= 1, got {ch_h}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.k, self.ch_h = k, ch_h
        self.hidden = nn.Conv2d(in_channels, ch_h, 3, padding=1)
        self.h0 = nn.Conv2d(ch_h, ch_h, 3, padding=1)
        self.c0 = nn.Conv2d(ch_h, ch_h, 3, padding=1)
        self.gather = nn.Conv2d(ch_h, 1, kernel_size, padding=kernel_size // 2)
        self.lstm = nn.LSTMCell(1, ch_h)
        #: Without gradients: iterations in place of ``k`` and a tolerance on the hidden states
        #: to stop at (:func:`agents.planners.set_inference_planning`).
        self.inference_k: int | None = None
        self.inference_tol: float | None = None
        self.last_iterations = k

    def plan(self, image: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """(M, C, H, W) maps -> (M, ch_h, H, W) hidden states after ``k`` iterations (default
        the module's)."""
        m, _, height, width = image.shape
        h, c = self._start(image)
        tol = None
        if k is None:
            k = self.k
            if not torch.is_grad_enabled():
                k, tol = self.inference_k or self.k, self.inference_tol
        self.last_iterations = k
        for i in range(k):
            before = h
            h, c = self._step(h, c, image.shape)
            if tol is not None and bool(((h - before).abs() <= tol).all()):
                self.last_iterations = i + 1
                break
        return h.view(m, height, width, self.ch_h).permute(0, 3, 1, 2)

    def _start(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM state ``(h, c)`` of every cell before the first iteration, (M*H*W, ch_h) each."""
        x = self.hidden(image)
        h = self.h0(x).permute(0, 2, 3, 1).reshape(-1, self.ch_h)
        return h, self.c0(x).permute(0, 2, 3, 1).reshape(-1, self.ch_h)

    def _step(self, h: torch.Tensor, c: torch.Tensor, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """One iteration: each cell's LSTM reads the gather convolution of the hidden map."""
        m, _, height, width = shape
        grid = h.view(m, height, width, self.ch_h).permute(0, 3, 1, 2)
        return self.lstm(self.gather(grid).reshape(-1, 1), (h, c))

    @torch.no_grad()
    def state_growth(self, image: torch.Tensor, k: int) -> list[tuple[float, float]]:
        """Per iteration 1..``k``: (the largest change of a hidden state, the largest cell state
        in absolute value) over the maps. Why the plan drifts past the trained K: a cell state
        that grows each iteration never lets the hidden states settle, so a tolerance stop
        (``inference_tol``) never fires."""
        h, c = self._start(image)
        out = []
        for _ in range(k):
            before = h
            h, c = self._step(h, c, image.shape)
            out.append((float((h - before).abs().max()), float(c.abs().max())))
        return out

    def act(self, plans: torch.Tensor, map_index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Attention: the hidden state of map ``map_index[i]`` at ``(rows[i], cols[i])`` (S, ch_h)."""
        return plans[map_index, :, rows, cols]

    def forward(
        self, image: torch.Tensor, map_index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        return self.act(self.plan(image), map_index, rows, cols)
