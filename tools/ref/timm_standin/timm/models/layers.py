"""DropPath, to_2tuple, trunc_normal_ as tiny_vit_sam.py uses them (inference:
drop_path_rate is 0, so DropPath is never active)."""
import collections.abc

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth per sample; the identity in eval mode or with drop_prob 0."""

    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.drop_prob or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


def to_2tuple(x):
    if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
        return tuple(x)
    return (x, x)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)
