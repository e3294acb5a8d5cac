"""AFE (eqs 17-20): D_aux shapes and gradients, the loss functions, the pairing modes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mspgsen.losses.afe import afe_d_loss, afe_g_loss
from mspgsen.nn.afe import AuxDiscriminator, FeatureAdapter, afe_features

torch.set_num_threads(1)


@pytest.mark.parametrize("size,channels", [(4, 16), (16, 8), (64, 8), (256, 2)])
def test_aux_discriminator_shapes(size: int, channels: int) -> None:
    torch.manual_seed(0)
    d = AuxDiscriminator(channels, hidden=8)
    assert d(torch.randn(3, channels, size, size)).shape == (3,)


@pytest.mark.parametrize("kwargs", [{}, {"spectral_norm": False}, {"mbstd_group": 0}])
def test_aux_discriminator_gradients(kwargs: dict) -> None:
    torch.manual_seed(0)
    d = AuxDiscriminator(4, hidden=8, **kwargs)
    afe_d_loss(d(torch.randn(4, 4, 8, 8)), d(torch.randn(4, 4, 8, 8) * 2)).backward()
    dead = [n for n, p in d.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert dead == []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(d(torch.randn(4, 4, 8, 8)).float()).all()


def test_aux_discriminator_deterministic() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(3)
        d = AuxDiscriminator(4, hidden=8)
        return d(torch.randn(4, 4, 8, 8))

    assert torch.equal(run(), run())


def test_losses_match_binary_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, generator=g), torch.randn(8, generator=g)
    bce = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(8)) + \
        F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(8))
    assert torch.allclose(afe_d_loss(real, fake), bce, atol=1e-5)  # eq (18)
    assert torch.allclose(afe_g_loss(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-5)  # eq (19), aux term
    assert afe_d_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2), abs=1e-6)


def _g_update(lambda_aux: float) -> dict:
    from mspgsen.config import load_config
    from mspgsen.data.stream import Batch
    from mspgsen.engine.build import build_method
    from mspgsen.models.base import DataSpec

    cfg = load_config("mspgsen", ["model.z_dim=8", "model.width=4", "model.max_ch=8", "model.global_dim=8",
                                  "model.aux_hidden=4"])
    torch.manual_seed(0)
    m = build_method(cfg, DataSpec(16, 1), torch.device("cpu"))
    knobs = m.initial_knobs()
    knobs.weights["aux"] = lambda_aux
    real = m.real_batch(Batch(torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1, None))
    torch.manual_seed(1)
    return m.g_step(real, knobs)


def test_the_training_step_forms_eq_20_total() -> None:
    """L_G_total = L_G_main + lambda_aux * L_G_aux (eq 20, project reading), as G's update computes it."""
    half, full = _g_update(0.5), _g_update(1.0)
    assert half["loss_g_aux"] == pytest.approx(0.5 * full["loss_g_aux"], rel=1e-5)  # lambda_aux weighs the aux term
    main = [r["loss_g"] - r["loss_g_aux"] - r.get("loss_g_lgcl", 0.0) for r in (half, full)]
    assert main[0] == pytest.approx(main[1], rel=1e-5) and main[0] > 0  # the main term is left as it is
    assert "loss_g_aux" not in _g_update(0.0)  # lambda_aux = 0: no aux term at all


def _batch(collapsed: bool, n: int = 8) -> torch.Tensor:
    if collapsed:  # every sample the same field (each one still N(0, 1) per pixel)
        return torch.randn(1, 4, 8, 8).expand(n, -1, -1, -1) + 0.01 * torch.randn(n, 4, 8, 8)
    return torch.randn(n, 4, 8, 8)


def _train_collapse_detector(mbstd_group: int, steps: int = 120) -> list[float]:
    torch.manual_seed(0)
    d = AuxDiscriminator(4, hidden=8, mbstd_group=mbstd_group, spectral_norm=False)
    opt = torch.optim.Adam(d.parameters(), lr=5e-3, betas=(0.5, 0.99))
    losses = []
    for _ in range(steps):
        loss = afe_d_loss(d(_batch(False)), d(_batch(True)))  # fresh batches: only batch variety tells them apart
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_aux_discriminator_detects_feature_collapse() -> None:
    with_mbstd = _train_collapse_detector(4)
    assert sum(with_mbstd[-10:]) / 10 < 0.3 * with_mbstd[0]
    without = _train_collapse_detector(0)  # per-sample view only: the two batches look alike
    assert sum(without[-10:]) / 10 > 0.8 * without[0]


def test_afe_feature_pairing_modes() -> None:
    torch.manual_seed(0)
    d_encode = torch.nn.Conv2d(3, 6, 3, padding=1)
    adapter = FeatureAdapter(5, 6)
    g_feat = torch.randn(2, 5, 8, 8, requires_grad=True)
    real_img, fake_img = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8, requires_grad=True)

    real, fake = afe_features("d_early", g_feat=g_feat, real_images=real_img, fake_images=None,
                              d_encode=d_encode, adapter=adapter)
    assert real.shape == fake.shape == (2, 6, 8, 8) and not real.requires_grad
    fake.sum().backward()
    assert g_feat.grad is not None and adapter.proj.weight.grad is not None

    real, fake = afe_features("d_early_images", g_feat=None, real_images=real_img, fake_images=fake_img,
                              d_encode=d_encode)
    fake.sum().backward()
    assert fake_img.grad is not None and not real.requires_grad

    with pytest.raises(ValueError):
        afe_features("literal", g_feat=g_feat, real_images=real_img, fake_images=None, d_encode=d_encode)
    with pytest.raises(ValueError):  # G and D features of different scales
        afe_features("d_early", g_feat=torch.randn(2, 5, 4, 4), real_images=real_img, fake_images=None,
                     d_encode=d_encode, adapter=adapter)


def test_paper_notes_cite_the_lines_that_run_eqs_18_to_20() -> None:
    """docs/paper-notes.md points eqs (18)-(20) at lines of the training step; each must still be that line."""
    import re
    from pathlib import Path

    import mspgsen

    root = Path(mspgsen.__file__).parent
    notes = (root.parents[1] / "docs" / "paper-notes.md").read_text()
    rows = [r for r in notes.splitlines() if re.match(r"\| \((18|19|20)\) \|", r)]
    assert len(rows) == 3
    cited = [(int(eq), path, int(line)) for r in rows for eq in [r[3:5]]
             for path, line in re.findall(r"`(methods/\w+\.py):(\d+)`", r)]
    assert len(cited) >= 4
    for eq, path, line in cited:
        text = (root / path).read_text().splitlines()[line - 1]
        assert re.search(rf"eqs? \((1[89]|20)\)", text), f"{path}:{line} no longer holds eq ({eq}): {text.strip()}"
