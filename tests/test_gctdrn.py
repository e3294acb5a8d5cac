"""GCTDRN block (eqs 15-16) and the global feature enhancement branch: shapes, gradients, determinism, fusion."""
from __future__ import annotations

import pytest
import torch

from mspgsen.nn.gctdrn import GCTDRNBlock, GlobalFeatureEnhancement

torch.set_num_threads(1)


def _dead_params(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> list[str]:
    return [name for name, p in module.named_parameters()
            if not name.startswith(skip) and (p.grad is None or not torch.any(p.grad != 0))]


@pytest.mark.parametrize("attention", ["dema", "none"])
@pytest.mark.parametrize("in_ch,out_ch", [(8, 8), (8, 16), (16, 4)])
def test_shapes(attention: str, in_ch: int, out_ch: int) -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(in_ch, out_ch, attention=attention)
    for size in (4, 32):
        out, aux = block(torch.randn(2, in_ch, size, size))
        assert out.shape == (2, out_ch, size, size)
        assert aux["branch_weights"].shape == (3,)
        assert torch.isfinite(aux["lgcl"])


def test_shape_at_256() -> None:
    torch.manual_seed(0)
    out, _ = GCTDRNBlock(4, 4, separable=True)(torch.randn(1, 4, 256, 256))
    assert out.shape == (1, 4, 256, 256)


@pytest.mark.parametrize("kwargs", [
    {"attention": "dema"}, {"attention": "none"}, {"separable": True}, {"norm": "pixel"}, {"norm": "batch"},
    {"spectral_norm": True}, {"attention": "dema", "task_dim": 3},
])
def test_gradients_reach_every_parameter(kwargs: dict) -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 12, **kwargs)
    task = torch.randn(4, 3) if kwargs.get("task_dim") else None
    out, aux = block(torch.randn(4, 8, 8, 8), task)
    (out.square().mean() + aux["lgcl"]).backward()
    skip = ("attn.task_vector",) if task is not None else ()
    assert _dead_params(block, skip) == []
    assert block.alpha.requires_grad and block.alpha.grad is not None  # eq (15): alpha learns
    if block.beta is not None:
        assert block.beta.grad is not None and block.beta.grad != 0  # eq (15): beta learns


def test_branch_weights_come_from_the_input() -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 8)
    n = 6
    x = torch.randn(n, 8, 8, 8) * torch.linspace(0.1, 3, n).view(n, 1, 1, 1)
    h = block.attn(x)[0].mean(dim=(2, 3))
    w = block.weight_mlp(h).view(n, 3, 8).softmax(dim=1)
    assert torch.allclose(w.sum(dim=1), torch.ones(n, 8), atol=1e-6)  # eq (16): a convex fusion per channel
    assert (w.std(dim=0) > 1e-4).any()  # different inputs, different branch weights


@pytest.mark.parametrize("attention", ["dema", "none"])
def test_one_branch_is_a_residual_convolution_with_no_fusion_weights(attention: str) -> None:
    """With a single kernel eq (16)'s softmax weight is 1: the block is alpha * conv(pre(x)) + shortcut, and holds no
    W_i network (it would never get a gradient)."""
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 12, attention=attention, kernels=(3,))
    assert block.weight_mlp is None and len(block.branches) == 1
    x = torch.randn(4, 8, 16, 16)
    out, aux = block(x)
    skip_in = x if block.attn is None else x + block.beta * block.attn(x)[0]
    expected = block.alpha * block.branches[0](block.pre(x)) + block.shortcut(skip_in)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.equal(aux["branch_weights"], torch.ones(1))
    (out.square().mean() + aux["lgcl"]).backward()
    assert _dead_params(block) == []


def test_alpha_zero_leaves_attention_and_shortcut() -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 8)
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        block.alpha.zero_()
        out, _ = block(x)
        a, _ = block.attn(x)
    assert torch.allclose(out, x + block.beta * a, atol=1e-6)  # eq (15) with the branches switched off


def test_deterministic_under_seed() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(7)
        block = GCTDRNBlock(8, 8, norm="batch")
        opt = torch.optim.Adam(block.parameters(), lr=1e-3)
        x = torch.randn(4, 8, 8, 8)
        out, aux = block(x)
        (out.square().mean() + aux["lgcl"]).backward()
        opt.step()
        return block(x)[0]

    assert torch.equal(run(), run())


def test_bfloat16_autocast() -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, aux = block(torch.randn(2, 8, 16, 16))
    assert out.shape == (2, 16, 16, 16) and torch.isfinite(out.float()).all()
    (out.float().square().mean() + aux["lgcl"]).backward()
    assert _dead_params(block) == []


@pytest.mark.parametrize("kwargs", [{"attention": "sagan"}, {"norm": "group"}, {"kernels": (3, 4)}])
def test_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        GCTDRNBlock(8, 8, **kwargs)


def test_global_feature_enhancement_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    gfe = GlobalFeatureEnhancement(16)
    for size in (4, 64):
        x = torch.randn(3, 16, size, size)
        assert gfe(x).shape == x.shape
    gfe(torch.randn(3, 16, 8, 8)).square().mean().backward()
    assert _dead_params(gfe) == []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(gfe(torch.randn(2, 16, 8, 8)).float()).all()


def test_global_feature_enhancement_reaches_far_pixels() -> None:
    torch.manual_seed(0)
    gfe = GlobalFeatureEnhancement(8)
    x = torch.randn(1, 8, 16, 16)
    y = x.clone()
    y[..., 15, 15] += 5.0  # change one far corner
    diff = (gfe(x) - gfe(y))[..., 0, 0].abs().max()
    assert diff > 1e-4  # the GAP branch carries global information to pixel (0, 0)


def test_copy_and_state_dict_round_trip() -> None:
    """EMA copies (deepcopy) and checkpoints (state_dict) reproduce the block, spectral norm included."""
    import copy

    torch.manual_seed(0)
    block = GCTDRNBlock(8, 16, spectral_norm=True).eval()
    twin = copy.deepcopy(block)
    fresh = GCTDRNBlock(8, 16, spectral_norm=True).eval()
    fresh.load_state_dict(block.state_dict())
    x = torch.randn(2, 8, 8, 8)
    assert torch.equal(block(x)[0], twin(x)[0]) and torch.equal(block(x)[0], fresh(x)[0])


def _forward_backward(block: GCTDRNBlock, x: torch.Tensor):
    block.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out, aux = block(x)
    (out.square().mean() + aux["lgcl"] + out[:, :1].mean()).backward()
    return out.detach(), x.grad, {k: p.grad for k, p in block.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kwargs,size", [
    ({}, 8), ({"attention": "none", "norm": "pixel"}, 16), ({"spectral_norm": True}, 8),
    ({"norm": "batch", "kernels": (1, 3, 7)}, 4), ({"kernels": (5, 3)}, 8),
])
def test_mixed_kernel_matches_the_three_branches(kwargs: dict, size: int) -> None:
    """fuse='kernel' (one grouped convolution with per-sample kernels sum_i W_i K_i) is eq (16)'s function."""
    import copy

    torch.manual_seed(0)
    plain = GCTDRNBlock(8, 12, fuse="off", **kwargs)
    mixed = copy.deepcopy(plain)  # same weights (and spectral-norm state)
    mixed.fuse = "kernel"
    assert mixed._use_mixed_kernel(torch.empty(1, 8, 2, 2)) and not plain._use_mixed_kernel(torch.empty(1, 8, 64, 64))
    x = torch.randn(4, 8, size, size)
    out_p, gx_p, g_p = _forward_backward(plain, x)
    out_m, gx_m, g_m = _forward_backward(mixed, x)
    torch.testing.assert_close(out_m, out_p, rtol=0, atol=1e-5)
    torch.testing.assert_close(gx_m, gx_p, rtol=1e-4, atol=1e-6)
    assert g_m.keys() == g_p.keys() and any(k.startswith("branches.") for k in g_p)
    for name in g_p:
        torch.testing.assert_close(g_m[name], g_p[name], rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_auto_fuse_picks_by_map_size_and_keeps_parameters() -> None:
    from mspgsen.nn.gctdrn import KERNEL_FUSE_PIXELS_PER_CHANNEL as PER_CH

    block = GCTDRNBlock(16, 8)
    assert block.fuse == "auto"
    side = int((PER_CH * 16) ** 0.5)
    assert block._use_mixed_kernel(torch.empty(1, 16, side, side))  # large map, few channels: one grouped conv
    assert not block._use_mixed_kernel(torch.empty(1, 16, side // 2, side // 2))  # small map: three convs
    assert not GCTDRNBlock(16, 8, separable=True, fuse="kernel")._use_mixed_kernel(torch.empty(1, 16, 64, 64))
    assert block.state_dict().keys() == GCTDRNBlock(16, 8, fuse="off").state_dict().keys()
    with pytest.raises(ValueError, match="fuse"):
        GCTDRNBlock(8, 8, fuse="fast")


def test_mixed_kernel_under_bfloat16_autocast() -> None:
    torch.manual_seed(0)
    block = GCTDRNBlock(8, 16, fuse="kernel")
    x = torch.randn(2, 8, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, aux = block(x)
    assert out.shape == (2, 16, 16, 16) and torch.isfinite(out.float()).all()
    (out.float().square().mean() + aux["lgcl"]).backward()
    assert _dead_params(block) == []
