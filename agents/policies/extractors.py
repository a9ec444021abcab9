"""What every planner policy shares: :class:`PlanningExtractor` (plan once per distinct map, read
the plan at each agent's cell, keep plans between weight updates), :func:`group_maps`,
:func:`planner_defaults` and :func:`resize_policy`."""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor


def group_maps(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct maps of a batch and each sample's map: ``maps[index] == images`` exactly.

    Samples of one map (a BC batch of whole maps, the steps of an episode, a shuffled PPO
    minibatch) then share one value iteration. Runs of identical adjacent maps are merged
    first (O(B * H * W)); the remaining maps are deduplicated by a random projection, and
    the result is checked element-wise, so a hash collision only costs speed (the batch is
    then planned map by map), never exactness.

    :param images: (B, C, H, W).
    :return: ``(maps, index)``: (M, C, H, W) distinct maps and (B,) int64 indices into them.
    """
    b = images.shape[0]
    flat = images.flatten(1)
    new = torch.ones(b, dtype=torch.bool, device=images.device)
    if b > 1:
        new[1:] = (flat[1:] != flat[:-1]).any(dim=1)
    run = new.long().cumsum(0) - 1
    firsts = flat[new]
    if firsts.shape[0] > 1:
        gen = torch.Generator(device="cpu").manual_seed(0x5EED)
        proj = torch.rand(flat.shape[1], generator=gen, dtype=torch.float64).to(images.device)
        keys = firsts.double() @ proj
        unique, inverse = torch.unique(keys, return_inverse=True)
        # The first run of each key stands for it.
        runs = torch.arange(inverse.numel(), device=images.device)
        order = torch.full((unique.shape[0],), inverse.numel(), dtype=torch.long, device=images.device)
        order.scatter_reduce_(0, inverse, runs, "amin")
        if torch.equal(firsts[order[inverse]], firsts):
            return images[new][order], inverse[run]
    return images[new], run


class PlanningExtractor(BaseFeaturesExtractor):
    """A features extractor that plans once per distinct map and reads the plan at each agent's
    cell: the body of :class:`VINExtractor` and :class:`agents.policies.gppn.GPPNExtractor`. A subclass
    gives :meth:`planner`, a module with ``plan(maps) -> (M, F, H, W)`` and
    ``act(plans, map_index, rows, cols) -> (S, F)``, and sets ``plan_once_per_map`` and
    ``plan_cache`` (see :class:`VINExtractor`)."""

    #: Plans kept at most; the cache is emptied when it would grow past this.
    CACHE_SIZE = 4096

    plan_once_per_map: bool
    plan_cache: bool

    def __init__(self, observation_space: spaces.Dict, features_dim: int) -> None:
        name = type(self).__name__
        if not isinstance(observation_space, spaces.Dict) or {"image", "position"} - set(observation_space.spaces):
            raise ValueError(f"{name} needs a Dict observation space with 'image' and 'position' (a VINGrid env)")
        super().__init__(observation_space, features_dim=features_dim)
        self._cache: dict[bytes, torch.Tensor] = {}
        self._cache_version: tuple = ()

    def planner(self) -> Any:
        raise NotImplementedError

    def clear_plan_cache(self) -> None:
        """Forget the kept plans (called when the planner's test-time settings change)."""
        self._cache = {}

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        images = observations["image"]
        pos = observations["position"].long()
        if self.plan_once_per_map:
            maps, index = group_maps(images)
        else:
            maps, index = images, torch.arange(images.shape[0], device=images.device)
        if self.plan_cache and not torch.is_grad_enabled():
            q = self._cached_plans(maps)
        else:
            q = self.planner().plan(maps)
        return self.planner().act(q, index, pos[:, 0], pos[:, 1])

    def _cached_plans(self, maps: torch.Tensor) -> torch.Tensor:
        # The cache is keyed on each parameter's storage and torch's in-place version counter
        # (``Tensor._version``, private): an optimiser step or ``load_state_dict`` bumps it.
        # ``tests/test_agents.py::test_plan_cache_is_exact_and_follows_weight_updates`` fails if
        # torch stops doing so.
        version = tuple((p.data_ptr(), p._version) for p in self.parameters())
        if version != self._cache_version or len(self._cache) + maps.shape[0] > self.CACHE_SIZE:
            self._cache, self._cache_version = {}, version
        keys = [m.tobytes() for m in maps.cpu().numpy()]
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if missing:
            for i, q in zip(missing, self.planner().plan(maps[missing])):
                self._cache[keys[i]] = q
        return torch.stack([self._cache[key] for key in keys])


def planner_defaults(kwargs: dict[str, Any], extractor: type[PlanningExtractor]) -> dict[str, Any]:
    """SB3 policy arguments for a planner policy: its extractor, SB3's action net straight on the
    extractor's features (``net_arch=[]``), raw 0/1 images, one extractor for actor and critic."""
    kwargs.setdefault("features_extractor_class", extractor)
    kwargs.setdefault("net_arch", [])
    kwargs.setdefault("normalize_images", False)
    kwargs.setdefault("share_features_extractor", True)
    return kwargs


def resize_policy(policy: Any, size: int) -> Any:
    """The SB3 ``policy`` rebuilt for ``size x size`` maps, with its weights: a convolutional
    planner's (VIN, GPPN, FCN) weights fit any map size, so an agent trained on small maps can be
    run on large ones (with K from :func:`agents.planners.set_inference_planning`).

    :raises ValueError: the policy has weights tied to its map size (the CNN's fully connected layer).
    """
    from gridworld_env.vingrid import observation_space

    kwargs = dict(policy._get_constructor_parameters())
    kwargs["observation_space"] = observation_space(size)
    resized = type(policy)(**kwargs)
    try:
        resized.load_state_dict(policy.state_dict())
    except RuntimeError as exc:
        raise ValueError(
            f"{type(policy).__name__} has weights sized for its maps: it cannot run on {size}x{size}"
        ) from exc
    resized.set_training_mode(False)
    return resized
