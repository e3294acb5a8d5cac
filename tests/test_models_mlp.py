"""The toy ``mlp`` model: shapes, features for feature matching, gradients reaching every parameter, seeding."""
from __future__ import annotations

import torch

from mspgsen.losses import feature_matching
from mspgsen.models.base import MODELS, DataSpec
from mspgsen.models.mlp import MLPOptions

torch.set_num_threads(1)


def build(seed: int = 0):
    torch.manual_seed(seed)
    return MODELS.get("mlp").obj(MLPOptions(z_dim=8, g_hidden=32, d_hidden=32), DataSpec(0, 0, dim=2))


def test_shapes_features_and_gradients():
    nets = build()
    G, D = nets["G"], nets["D"]
    assert (G.z_dim, G.scales, G.num_classes, G.resolution) == (8, 1, 0, 0)
    z = torch.randn(16, 8)
    xs = G(z)
    assert isinstance(xs, list) and xs[-1].shape == (16, 2)
    logits, feats = D(xs, features=True)
    assert logits.shape == (16,) and isinstance(feats, list) and feats[-1].shape == (16, 32)
    real = [torch.randn(16, 2)]
    _, rf = D(real, features=True)
    loss = -logits.mean() + feature_matching(rf, feats) + D(real).pow(2).mean()
    loss.backward()
    for name, p in nets.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_seeded_build_is_deterministic():
    a, b = build(3), build(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), build(4).parameters()))
