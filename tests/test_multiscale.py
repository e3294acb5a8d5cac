"""The shared multi-scale backbone (models/multiscale.py): scales, the D's joins and weights, encode, combine functions."""
from __future__ import annotations

import pytest
import torch

from mspgsen.components import MODELS
from mspgsen.models.base import DataSpec, pyramid
from mspgsen.models.multiscale import (COMBINES, MultiScaleDiscriminator, MultiScaleGenerator, PlainBlock,
                                       scale_count, widths)

TINY = {"msggan": dict(z_dim=16, width=4, max_ch=8), "mspgsen": dict(z_dim=16, width=4, max_ch=8, global_dim=8,
                                                                    aux_hidden=4, embed_dim=4)}


def build(name: str, res: int, channels: int = 3, num_classes: int = 0, **over):
    e = MODELS.get(name)
    return e.obj(e.options(**{**TINY[name], **over}), DataSpec(res, channels, num_classes))


def plain_d(res: int, combine: str = "cat", mbstd: int = 4) -> MultiScaleDiscriminator:
    return MultiScaleDiscriminator(res, 3, 0, widths(res, 4, 8), lambda i, o, r: PlainBlock(i, o, pixel_norm=False),
                                   combine=combine, mbstd_group=mbstd)


@pytest.mark.parametrize("name", ["msggan", "mspgsen"])
@pytest.mark.parametrize("res", [32, 64, 128])
def test_g_returns_one_image_per_scale_and_d_takes_the_pyramid(name, res):
    torch.manual_seed(0)
    nets = build(name, res)
    G, D = nets["G"], nets["D"]
    imgs, feats = G(torch.randn(2, 16), features=True)
    assert G.scales == scale_count(res) == len(imgs) == len(feats)
    assert [x.shape[-1] for x in imgs] == [4 * 2 ** s for s in range(G.scales)]
    assert all(x.shape[:2] == (2, 3) and x.abs().max() <= 1 for x in imgs)
    assert D(imgs).shape == (2,)
    logits, dfeats = D(pyramid(torch.rand(2, 3, res, res) * 2 - 1, G.scales), features=True)
    assert logits.shape == (2,) and len(dfeats) == G.scales  # one per block, and the last block's output


def test_pyramid_is_average_pooling_coarse_to_fine():
    x = torch.randn(2, 1, 16, 16)
    p = pyramid(x, 3)
    assert [t.shape[-1] for t in p] == [4, 8, 16]
    assert torch.allclose(p[1], x.reshape(2, 1, 8, 2, 8, 2).mean((3, 5)))


def test_d_refuses_a_single_image_or_a_wrong_count():
    D = plain_d(16)
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match="one per scale"):
        D([x])
    with pytest.raises(ValueError, match="one per scale"):
        D(x)


@pytest.mark.parametrize("combine", COMBINES)
def test_every_combine_passes_gradient_to_every_scale_and_parameter(combine):
    torch.manual_seed(0)
    D = plain_d(16, combine)
    xs = [t.requires_grad_(True) for t in pyramid(torch.randn(4, 3, 16, 16), 3)]
    D(xs).sum().backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())


def test_scale_weight_zero_removes_that_scale_from_the_decision():
    torch.manual_seed(0)
    D = plain_d(16, mbstd=0)
    xs = pyramid(torch.randn(4, 3, 16, 16), 3)
    changed = [xs[0], torch.randn_like(xs[1]), xs[2]]
    assert not torch.allclose(D(xs), D(changed))
    D.set_scale_weights([1.0, 0.0, 1.0])
    assert torch.allclose(D(xs), D(changed))
    with pytest.raises(ValueError):
        D.set_scale_weights([1.0, 1.0])


def test_minibatch_stddev_lets_d_see_the_rest_of_the_batch():
    torch.manual_seed(0)
    xs = pyramid(torch.randn(4, 3, 8, 8), 2)
    other = [torch.cat([x[:1], torch.randn_like(x[1:])]) for x in xs]
    for group, depends in ((4, True), (0, False)):
        D = plain_d(8, mbstd=group)
        assert (not torch.allclose(D(xs)[0], D(other)[0])) == depends


def test_encode_is_d_early_path_from_image_or_pyramid():
    torch.manual_seed(0)
    D = plain_d(32)
    x = torch.randn(2, 3, 32, 32)
    for s in range(D.scales):
        h = D.encode(x, s)
        assert h.shape == (2, D.in_ch[s], 4 * 2 ** s, 4 * 2 ** s)
        assert torch.allclose(h, D.encode(pyramid(x, D.scales), s))


def test_z_on_the_hypersphere_makes_g_ignore_the_norm_of_z():
    torch.manual_seed(0)
    G = build("msggan", 16, pixel_norm=False)["G"]  # pixel norm alone would also hide the norm of z
    z = torch.randn(3, 16)
    assert torch.allclose(G(z)[-1], G(3 * z)[-1], atol=1e-5)
    G.normalize_z = False
    assert not torch.allclose(G(z)[-1], G(3 * z)[-1], atol=1e-5)


def test_widths_double_towards_4x4_up_to_the_cap():
    assert widths(32, 8, 64) == [64, 32, 16, 8]
    assert widths(32, 8, 20) == [20, 20, 16, 8]
    with pytest.raises(Exception, match="power-of-two"):
        scale_count(48)


def test_the_forward_carries_its_lgcl_and_the_networks_keep_nothing():
    import copy

    nets = build("mspgsen", 16)
    G = nets["G"]
    imgs, feats = G(torch.randn(2, 16), features=True)
    assert feats.lgcl is not None and feats.lgcl.requires_grad  # L_LGCL travels with the forward's output
    for m in G.modules():  # no tensor of a graph is left behind on any module
        assert not any(isinstance(v, torch.Tensor) and v.requires_grad for v in vars(m).values())
    copy.deepcopy(G)  # a module holding a graph tensor could not be copied (the trainer's EMA copies G)


def test_generic_g_runs_any_block_factory():
    G = MultiScaleGenerator(8, 16, 1, 0, [8, 8, 4], lambda i, o, r: PlainBlock(i, o), normalize_z=False,
                            out_act="linear")
    assert [x.shape[1:] for x in G(torch.randn(2, 8))] == [(1, 4, 4), (1, 8, 8), (1, 16, 16)]
