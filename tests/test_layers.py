"""Shared layers of the multi-scale models: equalized lr, pixel norm, minibatch stddev, optional spectral norm."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mspgsen.nn.layers import EqualConv2d, EqualLinear, MinibatchStdDev, PixelNorm, spectral_norm_if

torch.set_num_threads(1)


def test_equal_conv_applies_he_constant_at_run_time() -> None:
    torch.manual_seed(0)
    conv = EqualConv2d(16, 8, 3, padding=1)
    assert abs(conv.weight.std().item() - 1) < 0.1  # stored unscaled
    x = torch.randn(2, 16, 6, 6)
    ref = F.conv2d(x, conv.weight / math.sqrt(16 * 9), conv.bias, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-6)
    assert 0.7 < conv(torch.randn(8, 16, 16, 16)).std().item() < 1.3  # variance kept
    conv(x).sum().backward()
    assert conv.weight.grad is not None and conv.bias.grad is not None


def test_equal_linear_lr_mul_and_bias_init() -> None:
    torch.manual_seed(0)
    lin = EqualLinear(32, 4, lr_mul=0.01, bias_init=1.0)
    x = torch.randn(5, 32)
    ref = F.linear(x, lin.weight * 0.01 / math.sqrt(32), lin.bias * 0.01)
    assert torch.allclose(lin(x), ref, atol=1e-6)
    assert torch.allclose(lin(torch.zeros(1, 32)), torch.ones(1, 4))


def test_pixel_norm_unit_rms() -> None:
    y = PixelNorm()(torch.randn(3, 10, 4, 4) * 7)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(3, 4, 4), atol=1e-4)


def test_minibatch_stddev_values_and_groups() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStdDev(group_size=4)(x)
    assert y.shape == (8, 7, 4, 4)
    group = x[0::2]  # sample 0's group: samples 0, 2, 4, 6
    expected = group.std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[0, 6], expected.expand(4, 4), atol=1e-5)
    assert MinibatchStdDev(group_size=4)(torch.randn(6, 6, 4, 4)).shape == (6, 7, 4, 4)  # group falls back to 3
    same = torch.randn(1, 6, 4, 4).expand(4, -1, -1, -1)
    assert MinibatchStdDev(4)(same)[:, 6].max() < 1e-3  # a collapsed batch has no spread
    assert MinibatchStdDev(4, num_features=2)(x).shape == (8, 8, 4, 4)
    with pytest.raises(ValueError):
        MinibatchStdDev(4, num_features=4)(x)


def test_spectral_norm_if() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 3)
    assert spectral_norm_if(conv, False) is conv
    lin = spectral_norm_if(torch.nn.Linear(16, 16), True)
    for _ in range(30):  # power iterations run in training forwards
        lin(torch.randn(2, 16))
    sigma = torch.linalg.matrix_norm(lin.weight.detach(), ord=2)
    assert abs(sigma.item() - 1) < 0.05


def test_global_avg_pool_is_the_mean_with_the_same_gradient() -> None:
    from mspgsen.nn.layers import global_avg_pool

    torch.manual_seed(0)
    x = torch.randn(3, 5, 7, 6, requires_grad=True)
    w = torch.randn(3, 5)
    (global_avg_pool(x) * w).sum().backward()
    g = x.grad.clone()
    x.grad = None
    (x.mean(dim=(2, 3)) * w).sum().backward()
    torch.testing.assert_close(global_avg_pool(x.detach()), x.detach().mean(dim=(2, 3)), rtol=0, atol=1e-6)
    torch.testing.assert_close(g, x.grad, rtol=0, atol=1e-7)
