"""Parameters and FLOPs per decision of VIN, CNN and FCN at each map size.

    python -m eval.costs [--sizes 8 16 28]

FLOPs count the multiply-adds of every convolution and linear layer in one forward pass for a
single observation (2 FLOPs per multiply-add; maxes, additions and poolings are left out),
measured with forward hooks. VIN's figure is one full plan: with the plan cache, later steps
of an episode cost only the attention and the head. Parameters are the actor's (the value head
left out). Writes ``results/costs.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import nn

from agents.training.bc import BCConfig, build_model
from eval.results import table_main


def forward_flops(policy: nn.Module, obs: dict[str, torch.Tensor]) -> int:
    """FLOPs of the convolutions and linear layers in ``policy.get_distribution(obs)``."""
    total = 0

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * out.numel() * per_out
        elif isinstance(module, nn.Linear):
            total += 2 * out.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in policy.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        policy.get_distribution(obs)
    for h in handles:
        h.remove()
    return total


def costs(size: int) -> list[tuple[str, int, int]]:
    """(policy, actor parameters, forward FLOPs per decision) for VIN, CNN and FCN."""
    env_id = f"VINGrid-{size}x{size}-v0"
    obs, _ = gym.make(env_id).reset(seed=0)
    batch = {k: torch.as_tensor(v[None]).float() for k, v in obs.items()}
    rows = []
    for name in ("vin", "cnn", "fcn"):
        policy = build_model(BCConfig(env_id=env_id, policy=name)).policy
        params = sum(p.numel() for n, p in policy.named_parameters() if not n.startswith(("value_net", "vf_")))
        rows.append((name, params, forward_flops(policy, batch)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.costs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 28], help="map sizes")
    parser.add_argument("--out", default="results/costs.md", help="markdown output (default: %(default)s)")
    args = parser.parse_args(argv)
    description = (
        "Actor parameters; forward FLOPs of convolutions and linear layers for one observation "
        "(VIN: one full plan with the paper's K; with the plan cache, the later steps of an episode "
        "only read Q and apply the head)."
    )
    rows = lambda: [  # noqa: E731
        [f"{size}x{size}", name.upper(), f"{params:,}", f"{flops / 1e6:.2f}"]
        for size in args.sizes
        for name, params, flops in costs(size)
    ]
    command = f"python -m eval.costs --sizes {' '.join(map(str, args.sizes))}"
    header = ["size", "policy", "parameters", "MFLOP per decision"]
    return table_main(parser, rows, args.out, "Parameters and FLOPs per decision", command, description, header)


if __name__ == "__main__":
    sys.exit(main())
