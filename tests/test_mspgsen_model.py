"""MSPG-SEN: every switch builds and trains, gradients reach every parameter, determinism, progressive schedule, AFE."""
from __future__ import annotations

import copy

import pytest
import torch

import mspgsen
from mspgsen.cli.main import main
from mspgsen.config import load_config
from mspgsen.data.stream import Batch
from mspgsen.engine.build import build_method
from mspgsen.errors import ConfigError
from mspgsen.methods.mspgsen import progressive_weights
from mspgsen.models.base import DataSpec

from tests.conftest import quiet

TINY = ["model.z_dim=16", "model.width=4", "model.max_ch=8", "model.global_dim=8", "model.aux_hidden=4",
        "model.embed_dim=4", "model.dema_heads=2"]
SWITCHES = ["gctdrn", "dema", "lgcl", "global_flow", "gfe", "afe", "d_gctdrn", "d_dema", "spectral_norm", "separable",
            "normalize_z", "pixel_norm", "conditional"]


class Stream:
    """Fixed random real batches (the method only calls next())."""

    def __init__(self, n: int = 8, res: int = 16, classes: int = 0, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, res, res, generator=g) * 2 - 1
        self.y = torch.arange(n) % classes if classes else None

    def next(self) -> Batch:
        return Batch(self.x.clone(), None if self.y is None else self.y.clone())


def method(over=(), res: int = 16, classes: int = 0, seed: int = 0):
    torch.manual_seed(seed)
    cfg = load_config("mspgsen", [f"data.resolution={res}", *TINY, *over])
    spec = DataSpec(res, 1, classes if cfg.model.options.conditional else 0)
    return build_method(cfg, spec, torch.device("cpu"))


def flat(m) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.nets.state_dict().items()}


@pytest.mark.parametrize("switch", ["all_on", *SWITCHES, "progressive"])
def test_each_switch_on_and_off_builds_and_trains(switch):
    over = ["model.d_gctdrn=true", "model.d_dema=true", "model.separable=true", "model.conditional=true"]
    if switch == "progressive":
        over.append("method.progressive=false")
    elif switch != "all_on":
        over.append(f"model.{switch}=false")  # every switch is on in the base above
    m = method(over, classes=3)
    before = flat(m)
    stream, knobs = Stream(classes=3 if m.G.num_classes else 0), m.initial_knobs()
    for _ in range(2):
        stats = m.step(stream, knobs)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    after = flat(m)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("G."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("D."))
    assert ("D_aux.head.parametrizations.weight.original" in before) == (switch != "afe")
    assert ("loss_g_aux" in stats) == (switch != "afe")
    assert ("loss_g_lgcl" in stats) == (switch not in ("dema", "lgcl"))


@pytest.mark.parametrize("conditional", [False, True])
def test_every_parameter_that_should_learn_gets_a_gradient(conditional):
    # width 8: at width 4 DEMA's 4-unit ReLU layers can all be off for a batch, a fact of tiny widths, not of wiring
    m = method(["model.d_gctdrn=true", "model.d_dema=true", f"model.conditional={conditional}", "model.width=8",
                "model.max_ch=16"], classes=3)
    m.step(Stream(classes=3 if conditional else 0), m.initial_knobs())
    for name, net in m.nets.items():
        dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        if conditional and name == "G":  # the label embedding is DEMA's task T; its own learned T stands by
            dead = [n for n in dead if not n.endswith("attn.task_vector")]
        assert not dead, (name, dead)


def test_training_is_deterministic_under_a_seed():
    runs = []
    for seed in (0, 0, 1):
        m = method(seed=seed)
        stats = [m.step(Stream(), m.initial_knobs()) for _ in range(2)]
        runs.append((stats, flat(m)))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert any(not torch.equal(runs[0][1][k], runs[2][1][k]) for k in runs[0][1])


def test_progressive_weights_move_from_coarse_to_fine():
    ws = [progressive_weights(4, p, 0.1) for p in (0.0, 0.2, 0.5, 0.8, 1.0, 3.0)]
    assert ws[0] == [1.0, 0.1, 0.1, 0.1] and ws[-2] == ws[-1] == [1.0] * 4
    for w in ws:
        assert all(a >= b for a, b in zip(w, w[1:]))  # coarse never weighs less than fine
    for a, b in zip(ws, ws[1:]):
        assert all(y >= x for x, y in zip(a, b))  # weights only grow with time
    assert progressive_weights(1, 0.0, 0.1) == [1.0]


def test_method_sets_d_scale_weights_by_kimg_or_step_and_resumes_them():
    m = method(["method.progressive_unit=step", "method.progressive_length=4", "method.progressive_floor=0"])
    stream, knobs = Stream(), m.initial_knobs()
    seen = [m.step(stream, knobs)["scale_w2"] for _ in range(5)]
    assert seen == [0.0, 0.0, 0.0, 0.5, 1.0]  # 3 scales at 16x16: scale 2 ramps over the second half (steps 2..4)
    assert m.D.scale_weights.tolist() == [1.0, 1.0, 1.0]
    fresh = method(["method.progressive_unit=step", "method.progressive_length=4", "method.progressive_floor=0"])
    fresh.load_state_dict(copy.deepcopy(m.state_dict()))
    assert fresh.scale_weights() == m.scale_weights() and fresh.steps_done == 5
    assert "D_aux" in fresh.state_dict()["optimizers"]
    m_kimg = method(["method.progressive_length=0.016"])  # 16 images = 2 steps of 8
    assert [m_kimg.step(stream, knobs)["scale_w1"] for _ in range(3)] == pytest.approx([0.1, 1.0, 1.0])
    off = method(["method.progressive=false"])
    assert off.step(stream, knobs)["scale_w2"] == 1.0


def test_afe_trains_d_aux_only_with_its_own_loss_and_g_through_the_adapter():
    m = method()
    aux_before = {k: v.clone() for k, v in m.nets["D_aux"].state_dict().items()}
    adapter_before = m.G.afe_adapter.proj.weight.clone()
    stats = m.step(Stream(), m.initial_knobs())
    assert {"loss_daux", "daux_real", "daux_fake", "loss_g_aux"} <= set(stats)
    assert any(not torch.equal(v, m.nets["D_aux"].state_dict()[k]) for k, v in aux_before.items())
    assert not torch.equal(adapter_before, m.G.afe_adapter.proj.weight)
    assert all(p.requires_grad for p in m.nets["D_aux"].parameters())  # unfrozen after G's step
    knobs = m.initial_knobs()
    knobs.weights["aux"] = 0.0
    assert "loss_g_aux" not in m.step(Stream(), knobs)  # lambda_aux = 0 switches the term off


def test_afe_image_mode_needs_no_adapter():
    m = method(["model.afe_mode=d_early_images"])
    assert not hasattr(m.G, "afe_adapter")
    assert "loss_g_aux" in m.step(Stream(), m.initial_knobs())


def test_conditional_labels_steer_g_and_dema_task_is_the_label_embedding():
    m = method(["model.conditional=true"], classes=3)
    G = m.G
    assert G.task_from_label and G.blocks[0].block.attn.task_dim == 4
    z = torch.randn(2, 16)
    a, b = G(z, torch.tensor([0, 0]))[-1], G(z, torch.tensor([1, 1]))[-1]
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional"):
        G(z)
    with pytest.raises(ConfigError, match="needs image data"):
        mspgsen.train("mspgsen", overrides=["data.source=ring8"], log=quiet)


def test_method_needs_a_multiscale_model():
    with pytest.raises(ConfigError, match="multi-scale"):
        load_config("dcgan", ["method.name=mspgsen"])


def test_preset_trains_through_the_cli_and_saves_every_scale(runs):
    argv = ["train", "--config", "mspgsen", "--steps", "2", "--runs-dir", str(runs), "--name", "m",
            *sum((["--set", o] for o in TINY + ["train.batch_size=8", "data.limit=64", "train.sample_every=2",
                                                "train.progress=false", "train.tensorboard=false",
                                                "train.grid_size=8"]), [])]
    assert main(argv) == 0
    assert (runs / "m/samples/000002_scales.png").exists()
    h = mspgsen.load_generator(runs / "m")
    assert len(h.all_scales(h.z_from_seeds([0, 1]))) == 4


def test_d_features_feed_feature_matching_eq12():
    m = method(["method.fm=1.0"])
    _, feats = m.D(m.G(torch.randn(2, 16)), features=True)
    assert len(feats) == m.G.scales and all(f.dim() == 4 for f in feats)
    assert m.step(Stream(), m.initial_knobs())["loss_g_fm"] > 0


def _forward_backward(m, z, real=None) -> tuple:
    """G's pyramid, D's logit and every gradient of one pass through G, D (and D_aux on ``real``)."""
    m.nets.zero_grad(set_to_none=True)
    imgs, feats = m.G(z, features=True)
    logit, d_feats = m.D(imgs, features=True)
    aux = m.nets["D_aux"](m.D.encode(real, -2)).sum() if real is not None else 0
    (logit.sum() + feats.lgcl + d_feats.lgcl + aux).backward()
    return ([i.detach() for i in imgs], logit.detach(),
            {k: p.grad.clone() for k, p in m.nets.named_parameters() if p.grad is not None})


def _assert_same_function(ref: tuple, new: tuple, must_reach: tuple[str, ...]) -> None:
    """Outputs within 1e-5 and every gradient within 1e-4 relative; ``must_reach``: parameter names that must
    have a gradient (so the comparison covers the layers in question)."""
    (imgs_r, logit_r, g_r), (imgs_n, logit_n, g_n) = ref, new
    for a, b in zip(imgs_n, imgs_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(logit_n, logit_r, rtol=0, atol=1e-5)
    assert g_n.keys() == g_r.keys() and all(any(part in k for k in g_r) for part in must_reach)
    for k in g_r:
        torch.testing.assert_close(g_n[k], g_r[k], rtol=1e-4, atol=1e-6, msg=lambda msg: f"{k}: {msg}")


def test_fused_model_computes_the_plain_models_function():
    """model.fused (mixed-kernel GCTDRN branches, batched DEMA heads) changes speed, not outputs or gradients."""
    over = ["model.d_gctdrn=true", "model.d_dema=true", "model.width=8", "model.max_ch=16", "model.dema_heads=4"]
    plain, fused = method([*over, "model.fused=false"], res=32), method(over, res=32)
    assert plain.nets.state_dict().keys() == fused.nets.state_dict().keys()
    fused.nets.load_state_dict(plain.nets.state_dict())  # a checkpoint of the plain layout loads as is
    for blk in fused.G.blocks:  # force the mixed kernel at every scale (auto would pick per map size)
        blk.block.fuse = "kernel"
    z = torch.randn(4, plain.G.z_dim)
    _assert_same_function(_forward_backward(plain, z), _forward_backward(fused, z), (".branches.", ".attn."))


def test_1x1_convolutions_as_matrix_products_compute_the_same_function():
    """The 1x1 convolutions of G, D and D_aux that run as matrix products on a CPU (from/to-RGB and the others the
    rule picks) give the same outputs and gradients as with F.conv2d, for the same weights."""
    from mspgsen.nn.layers import PointwiseConv2d, plain_pointwise

    first = method(["model.d_gctdrn=true", "model.d_dema=true", "model.width=8", "model.max_ch=16"], res=32)
    for net in ("G", "D"):  # the layers in question are there
        assert sum(isinstance(mod, PointwiseConv2d) for mod in first.nets[net].modules()) >= 8
    z, real = torch.randn(4, first.G.z_dim), torch.rand(4, 1, 32, 32) * 2 - 1
    second = copy.deepcopy(first)  # a copy: spectral norm steps its u on every training pass
    with plain_pointwise():
        ref = _forward_backward(first, z, real)
    _assert_same_function(ref, _forward_backward(second, z, real), ("to_rgb", "joins", ".attn."))


def test_dema_and_the_multi_kernel_branches_can_be_kept_to_the_coarse_scales():
    m = method(["model.dema_max_res=8", "model.kernels_max_res=4", "model.d_gctdrn=true", "model.d_dema=true",
                "model.width=8", "model.max_ch=16"])  # 16x16: scales 4, 8, 16
    g_blocks = [b.block for b in m.G.blocks]
    assert [b.attn is not None for b in g_blocks] == [True, True, False]
    assert [b.kernels for b in g_blocks] == [(3, 5, 7), (3,), (3,)]
    d_blocks = [b.block for b in m.D.blocks[1:]]  # D's blocks at 8 and 16 see the same limits
    assert [b.attn is not None for b in d_blocks] == [True, False]
    assert [b.kernels for b in d_blocks] == [(3,), (3,)]
    m.step(Stream(), m.initial_knobs())
    for name, net in m.nets.items():
        dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not dead, (name, dead)
    full = method(["model.width=8", "model.max_ch=16"])
    assert all(b.block.attn is not None and b.block.kernels == (3, 5, 7) for b in full.G.blocks)  # 0: every scale
    with pytest.raises(ConfigError, match="dema_max_res"):
        method(["model.dema_max_res=12"])


def test_d_aux_width_follows_the_model_when_aux_hidden_is_0():
    small, wide = method(["model.aux_hidden=0"]), method(["model.aux_hidden=0", "model.width=8", "model.max_ch=16"])
    for m in (small, wide):
        s = m.G.afe_scale
        assert m.nets["D_aux"].body[0].out_channels == m.D.chans[s]  # D's own channels at the scale it reads
    assert wide.nets["D_aux"].body[0].out_channels == 2 * small.nets["D_aux"].body[0].out_channels
    assert method(["model.aux_hidden=4"]).nets["D_aux"].body[0].out_channels == 4
    with pytest.raises(ConfigError, match="aux_hidden"):
        method(["model.aux_hidden=-1"])


def test_each_update_gets_what_it_needs_as_arguments():
    """G's update takes the real batch it is given (no state kept from D's update), and D's L_LGCL term is the
    one its own forward of this update's fakes computed (not whatever forward ran last)."""
    cfg = load_config("mspgsen", TINY + ["model.d_gctdrn=true", "model.d_dema=true"])
    torch.manual_seed(0)
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    knobs = m.initial_knobs()
    real = m.real_batch(Batch(torch.rand(8, 1, 16, 16) * 2 - 1, None))
    g = m.g_step(real, knobs)  # before any D update: everything G's update needs is in `real`
    assert g["loss_g_aux"] > 0 and "loss_g_lgcl" in g and "loss_daux" in g
    seen = {}
    extra = m.extra_d_terms

    def spy(real_scales, fakes, fake_feats, y, knobs):
        seen["lgcl"] = float(fake_feats.lgcl.detach())
        return extra(real_scales, fakes, fake_feats, y, knobs)

    m.extra_d_terms = spy
    d = m.d_step(real, knobs)
    assert d["loss_d_lgcl"] == pytest.approx(knobs.weight("lgcl") * seen["lgcl"])
    kept = [k for k, v in vars(m).items() if isinstance(v, (torch.Tensor, tuple))]
    assert not kept, f"the method keeps {kept} between calls"
