"""DiffAugment and the linear noise plan: shapes, gradients to G, one draw per sample at every scale, the plan."""
import pytest
import torch
import torch.nn.functional as F

from mspgsen.config import load_config
from mspgsen.errors import ConfigError
from mspgsen.methods.augment import _cutout, _translate, diff_augment, parse_policy
from mspgsen.models.base import pyramid


def test_policy_parsing_orders_and_refuses_unknown_names():
    assert parse_policy("cutout, translation") == ["translation", "cutout"]
    assert parse_policy("") == []
    with pytest.raises(ConfigError, match="Unknown augmentation flip"):
        parse_policy("translation,flip")
    with pytest.raises(ConfigError, match="method.diffaug"):
        load_config("dcgan", ["method.diffaug=rotate"])


def test_translation_moves_content_and_shifts_in_zeros():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 3] = 1.0
    y = _translate(x, torch.tensor([1 / 8]), torch.tensor([-1 / 8]))  # one pixel right, one up
    assert y[0, 0, 1, 4] == 1.0 and y.sum() == 1.0
    full = torch.ones(1, 1, 8, 8)
    z = _translate(full, torch.tensor([1 / 8]), torch.tensor([0.0]))
    assert z[0, 0, :, 0].abs().sum() == 0 and z[0, 0, :, 1:].min() == 1.0


def test_cutout_zeroes_half_the_side():
    y = _cutout(torch.ones(2, 3, 16, 16), torch.tensor([0.5, 0.0]), torch.tensor([0.5, 0.0]))
    assert (y[0] == 0).sum() == 3 * 8 * 8  # centred: an 8x8 hole
    assert (y[1] == 0).sum() == 3 * 4 * 4  # in a corner: a quarter of it


def test_every_scale_gets_the_same_draw():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 32, 32)
    fx = torch.tensor([1 / 8, -1 / 8, 0.0, 1 / 8])  # multiples of the pooling factor down to 8x8
    fy = torch.tensor([0.0, 1 / 8, -1 / 8, -1 / 8])
    shifted_then_pooled = pyramid(_translate(x, fx, fy), 3)
    pooled_then_shifted = [_translate(p, fx, fy) for p in pyramid(x, 3)]
    for a, b in zip(shifted_then_pooled, pooled_then_shifted):
        torch.testing.assert_close(a, b)


def test_augment_keeps_shapes_passes_gradients_and_follows_the_seed():
    xs = [torch.randn(5, 3, s, s, requires_grad=True) for s in (4, 8, 16)]
    torch.manual_seed(3)
    a = diff_augment(xs, ["color", "translation", "cutout"])
    torch.manual_seed(3)
    b = diff_augment(xs, ["color", "translation", "cutout"])
    assert [t.shape for t in a] == [t.shape for t in xs]
    for s, t in zip(a, b):
        torch.testing.assert_close(s, t)
    sum(t.square().sum() for t in a).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs)
    assert diff_augment(xs, []) == xs


def test_gan_step_trains_with_augmentation_and_refuses_points():
    from mspgsen.data.prepare import prepare_training_data
    from mspgsen.engine.build import build_method, data_spec

    cfg = load_config("dcgan", ["method.diffaug=translation,cutout", "model.ngf=8", "model.ndf=8", "train.batch_size=8",
                                "data.limit=64"])
    spec = data_spec(cfg, prepare_training_data(cfg.data))
    m = build_method(cfg, spec, torch.device("cpu"))
    assert m.aug_policy == ["translation", "cutout"]
    cfg_toy = load_config("dcgan", ["model.name=mlp", "data.source=ring8", "method.diffaug=translation"])
    with pytest.raises(ConfigError, match="2-D points"):
        build_method(cfg_toy, data_spec(cfg_toy, prepare_training_data(cfg_toy.data)), torch.device("cpu"))


def test_linear_noise_plan_falls_to_zero_and_adds_to_the_knob():
    from mspgsen.data.prepare import prepare_training_data
    from mspgsen.engine.build import build_method, data_spec

    cfg = load_config("mspgsen", ["method.noise_start=0.2", "method.noise_length=2", "model.width=4", "model.max_ch=8",
                                  "train.batch_size=4", "data.limit=16"])
    m = build_method(cfg, data_spec(cfg, prepare_training_data(cfg.data)), torch.device("cpu"))
    assert m.planned_noise() == pytest.approx(0.2)
    m.images_seen = 1000
    assert m.planned_noise() == pytest.approx(0.1)
    x = [torch.zeros(64, 1, 8, 8)]
    assert m.noisy(x, 0.3)[0].std().item() == pytest.approx(0.4, rel=0.1)  # the knob's 0.3 plus the plan's 0.1
    m.images_seen = 5000
    assert m.planned_noise() == 0.0
