"""Shared layers of the multi-scale models: equalized lr, pixel norm, minibatch stddev, optional spectral norm."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from torch import nn

from mspgsen.nn.layers import (EqualConv2d, EqualLinear, MinibatchStdDev, PixelNorm, PointwiseConv2d, plain_pointwise,
                              pointwise_as_matmul, pointwise_conv, spectral_norm_if)

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


def _conv_and_grads(fn, x, w, b):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    b = b.detach().requires_grad_() if b is not None else None
    out = fn(x, w, b)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()  # a weighting that no layout hides
    return out.detach(), x.grad, w.grad, (b.grad if b is not None else None)


@pytest.mark.parametrize("shape,out_ch,bias,layout", [
    ((4, 1, 32, 32), 8, True, "contiguous"),  # from-RGB of a grey image
    ((4, 16, 16, 16), 1, True, "contiguous"),  # to-RGB
    ((3, 12, 8, 8), 3, False, "channels_last"),  # to-RGB without bias, fed by a channels-last map
    ((2, 6, 5, 7), 3, True, "transposed"),  # a non-contiguous view
])
def test_pointwise_conv_is_the_1x1_convolution_with_the_same_gradients(shape, out_ch, bias, layout) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    w, b = torch.randn(out_ch, shape[1], 1, 1), (torch.randn(out_ch) if bias else None)
    got = _conv_and_grads(pointwise_conv, x, w, b)
    with plain_pointwise():
        ref = _conv_and_grads(pointwise_conv, x, w, b)
    ref_direct = _conv_and_grads(F.conv2d, x, w, b)
    for g, r, d in zip(got, ref, ref_direct):
        if r is None:
            assert g is None
            continue
        torch.testing.assert_close(r, d, rtol=0, atol=0)  # the reference path is F.conv2d itself
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)  # weight gradients sum ~1e3 terms: relative
    torch.testing.assert_close(got[0], ref[0], rtol=0, atol=1e-5)
    assert got[0].shape == (shape[0], out_ch, *shape[2:])
    assert not torch.equal(got[0], _conv_and_grads(pointwise_conv, x, w + 0.5, b)[0])  # the check can fail


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace: what export uses
def test_pointwise_module_is_a_1x1_conv_for_checkpoints_spectral_norm_and_export() -> None:
    torch.manual_seed(0)
    conv, pw = nn.Conv2d(1, 4, 1), PointwiseConv2d(1, 4)
    assert pw.state_dict().keys() == conv.state_dict().keys()
    pw.load_state_dict(conv.state_dict())  # a checkpoint of the plain layer loads as is, and back
    x = torch.randn(2, 1, 9, 9)  # one channel: the matrix-product path
    torch.testing.assert_close(pw(x), conv(x), rtol=0, atol=1e-5)
    sn_pw, sn_conv = spectral_norm_if(PointwiseConv2d(1, 4), True), spectral_norm_if(nn.Conv2d(1, 4, 1), True)
    assert sn_pw.state_dict().keys() == sn_conv.state_dict().keys()
    sn_pw.load_state_dict(sn_conv.state_dict())
    sn_pw.eval(), sn_conv.eval()  # no power iteration: both read the same normalised weight
    torch.testing.assert_close(sn_pw(x), sn_conv(x), rtol=0, atol=1e-5)
    graph = str(torch.jit.trace(pw, x).inlined_graph)  # export traces the plain convolution (ONNX's Conv node)
    assert "aten::_convolution" in graph and "aten::linear" not in graph
    eq = EqualConv2d(1, 4, 1)
    torch.testing.assert_close(eq(x), F.conv2d(x, eq.weight, eq.bias), rtol=0, atol=1e-5)


def test_plain_pointwise_switches_back_even_after_an_error() -> None:
    x, w = torch.randn(1, 1, 3, 3), torch.randn(2, 1, 1, 1)
    channels_last = pointwise_conv(x, w).stride()  # the matrix product's layout
    with pytest.raises(RuntimeError):
        with plain_pointwise():
            assert pointwise_conv(x, w).stride() != channels_last  # F.conv2d's
            raise RuntimeError("inside")
    assert pointwise_conv(x, w).stride() == channels_last


def test_matrix_products_only_where_they_were_measured_faster() -> None:
    assert pointwise_as_matmul(1, 64) and pointwise_as_matmul(1, 8)  # grey from-RGB
    assert pointwise_as_matmul(16, 1) and pointwise_as_matmul(8, 3)  # to-RGB
    assert not pointwise_as_matmul(64, 64) and not pointwise_as_matmul(3, 16)
    assert not pointwise_as_matmul(1, 128)  # a wide from-RGB: the convolution was faster
    x, w = torch.randn(2, 32, 4, 4), torch.randn(32, 32, 1, 1)
    assert pointwise_conv(x, w).is_contiguous()  # a wide 1x1 stays a convolution
