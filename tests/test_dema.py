"""DEMA (eqs 1-7): shapes, gradients, determinism, linear cost in pixels, the contrastive loss (eq 7)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mspgsen.losses.contrastive import lgcl_loss
from mspgsen.nn.attention import SelfAttention2d
from mspgsen.nn.dema import DEMA

torch.set_num_threads(1)


def _dead_params(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> list[str]:
    return [name for name, p in module.named_parameters()
            if not name.startswith(skip) and (p.grad is None or not torch.any(p.grad != 0))]


@pytest.mark.parametrize("size,channels", [(4, 16), (8, 8), (32, 16), (256, 4)])
def test_shapes_from_4_to_256(size: int, channels: int) -> None:
    torch.manual_seed(0)
    m = DEMA(channels)
    x = torch.randn(2, channels, size, size)
    out, aux = m(x)
    assert out.shape == x.shape
    assert aux["lgcl"].dim() == 0 and torch.isfinite(aux["lgcl"])
    assert torch.allclose(aux["alpha"] + aux["beta"], torch.tensor(1.0), atol=1e-5)


def test_residual_option_adds_input() -> None:
    torch.manual_seed(0)
    m = DEMA(8)
    x = torch.randn(2, 8, 8, 8)
    out, _ = m(x)
    m.residual = True
    out_res, _ = m(x)
    assert torch.allclose(out_res, x + out, atol=1e-6)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    m = DEMA(16, heads=4, scales=(1, 3, 5, 7))
    out, aux = m(torch.randn(4, 16, 8, 8))
    (out.square().mean() + aux["lgcl"]).backward()
    assert _dead_params(m) == []


def test_external_task_vector_conditions_output() -> None:
    torch.manual_seed(0)
    m = DEMA(8, task_dim=5)
    x = torch.randn(3, 8, 8, 8)
    t1, t2 = torch.randn(3, 5), torch.randn(3, 5)
    out1, aux = m(x, t1)
    out2, _ = m(x, t2)
    assert not torch.allclose(out1, out2)  # eq (5): alpha, beta depend on T
    (out1.square().mean() + aux["lgcl"]).backward()
    assert m.task_vector.grad is None  # the learned T stands in only when no task is given
    assert _dead_params(m, skip=("task_vector",)) == []
    with pytest.raises(ValueError):
        m(x, torch.randn(3, 4))
    with pytest.raises(ValueError):
        DEMA(8)(x, t1)


def test_deterministic_under_seed() -> None:
    def run() -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(123)
        m = DEMA(8)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        x = torch.randn(4, 8, 8, 8)
        out, aux = m(x)
        (out.square().mean() + aux["lgcl"]).backward()
        opt.step()
        return m(x)[0], aux["lgcl"].detach()

    (a, la), (b, lb) = run(), run()
    assert torch.equal(a, b) and torch.equal(la, lb)


def test_samples_do_not_leak_into_each_other() -> None:
    torch.manual_seed(0)
    m = DEMA(8)
    x = torch.randn(5, 8, 8, 8)
    assert torch.allclose(m(x)[0][:2], m(x[:2])[0], atol=1e-5)


def _flops_per_pixel(module: torch.nn.Module, channels: int, size: int) -> float:
    x = torch.randn(1, channels, size, size)
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() / (size * size)


def test_cost_is_linear_in_pixels() -> None:
    torch.manual_seed(0)
    dema, sagan = DEMA(32), SelfAttention2d(32)
    d16, d64 = _flops_per_pixel(dema, 32, 16), _flops_per_pixel(dema, 32, 64)
    s16, s64 = _flops_per_pixel(sagan, 32, 16), _flops_per_pixel(sagan, 32, 64)
    assert d16 > 0 and abs(d64 / d16 - 1) < 0.02  # 16x the pixels, same FLOPs per pixel
    assert s64 / s16 > 4  # the counter does see a quadratic block grow


def test_lgcl_lower_for_matched_than_shuffled_pairs() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.randn(16, 32, generator=g)
    p = f + 0.5 * torch.randn(16, 32, generator=g)
    shuffled = p.roll(1, dims=0)  # every row paired with another sample's descriptor
    assert lgcl_loss(f, p) < lgcl_loss(f, shuffled)
    assert lgcl_loss(f[:1], p[:1]) == 0  # a single candidate


def test_lgcl_training_ties_local_and_global_descriptors() -> None:
    torch.manual_seed(0)
    m = DEMA(8, tau=0.1)
    x = torch.randn(8, 8, 8, 8)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        _, aux = m(x)
        first = aux["lgcl"].item() if first is None else first
        opt.zero_grad()
        aux["lgcl"].backward()
        opt.step()
    with torch.no_grad():
        loc = m.local_head(m.focus(x).mean(dim=(2, 3)))  # the descriptors eq (7) compares
        glo = m.global_head(m.expand(x).mean(dim=(2, 3)))
        matched, shuffled = lgcl_loss(loc, glo), lgcl_loss(loc, glo.roll(1, dims=0))
    assert matched < first
    assert matched < shuffled


def test_lgcl_off_gives_zero_and_no_heads() -> None:
    m = DEMA(8, lgcl=False)
    _, aux = m(torch.randn(2, 8, 4, 4))
    assert aux["lgcl"].item() == 0.0
    assert not hasattr(m, "local_head")


def test_bfloat16_autocast() -> None:
    torch.manual_seed(0)
    m = DEMA(16)
    x = torch.randn(2, 16, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, aux = m(x)
    assert out.shape == x.shape and torch.isfinite(out.float()).all() and torch.isfinite(aux["lgcl"])
    (out.float().square().mean() + aux["lgcl"]).backward()
    assert _dead_params(m) == []


@pytest.mark.parametrize("kwargs", [{"scales": (2,)}, {"tau": 0.0}, {"heads": 0}])
def test_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DEMA(8, **kwargs)


def _forward_backward(m: DEMA, x: torch.Tensor, task: torch.Tensor | None = None):
    m.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out, aux = m(x, task)
    (out.square().mean() + aux["lgcl"] + out[:, :1].mean()).backward()
    grads = {k: p.grad for k, p in m.named_parameters() if p.grad is not None}
    return out.detach(), aux["lgcl"].detach(), x.grad, grads


@pytest.mark.parametrize("channels,heads,scales,size,task_dim", [
    (16, 4, (1, 3, 5, 7), 8, 0), (10, 4, (1, 3, 5, 7), 16, 0),  # 10 channels: heads of ceil(10/4) = 3
    (8, 3, (3, 7), 4, 5), (32, 2, (5,), 32, 0),
])
def test_fused_heads_match_the_plain_loop(channels: int, heads: int, scales: tuple, size: int, task_dim: int) -> None:
    """fused=True (batched heads, one 1x1 projection of X) computes the plain per-head code's function."""
    import copy

    torch.manual_seed(0)
    plain = DEMA(channels, heads=heads, scales=scales, task_dim=task_dim, fused=False)
    fused = copy.deepcopy(plain)
    fused.fused = True
    x = torch.randn(3, channels, size, size)
    task = torch.randn(3, task_dim) if task_dim else None
    out_p, lg_p, gx_p, g_p = _forward_backward(plain, x, task)
    out_f, lg_f, gx_f, g_f = _forward_backward(fused, x, task)
    torch.testing.assert_close(out_f, out_p, rtol=0, atol=1e-5)
    torch.testing.assert_close(lg_f, lg_p, rtol=0, atol=1e-5)
    torch.testing.assert_close(gx_f, gx_p, rtol=1e-4, atol=1e-6)
    assert g_f.keys() == g_p.keys() and len(g_p) == len(list(plain.parameters())) - (1 if task_dim else 0)
    for name in g_p:
        torch.testing.assert_close(g_f[name], g_p[name], rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_fused_is_the_default_and_loads_plain_checkpoints() -> None:
    torch.manual_seed(0)
    plain = DEMA(16, fused=False)
    fused = DEMA(16)
    assert fused.fused and fused.state_dict().keys() == plain.state_dict().keys()
    fused.load_state_dict(plain.state_dict())  # same parameter names and shapes: old checkpoints load
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(fused(x)[0], plain(x)[0], rtol=0, atol=1e-5)
