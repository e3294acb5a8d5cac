"""AFE losses (eqs 17-20) as pure functions of logits, non-saturating form with the logistic sigmoid.

* eq (17) is the plain non-saturating D loss of the main discriminator: ``losses.adversarial.ns_d``.
* eq (18), as the project reads it: D_aux separates features of real images (``real_feat_logits``) from G's
  features (``fake_feat_logits``). The paper writes G's features on both sides, which would give D_aux nothing to
  learn; see ``docs/paper-notes.md``.
* eq (19): G's joint loss = main non-saturating term + aux non-saturating term ``-log D_aux(F_gen)``.
* eq (20): the paper adds ``lambda_aux * L_Daux`` to G's loss. Literally this would make G *minimise D_aux's own
  loss* (help it) and count the aux term twice; the project reads ``lambda_aux`` as the weight of the aux term of
  eq (19): ``L_G_total = L_G_main + lambda_aux * L_G_aux``. That sum is formed where G's loss terms meet: the
  ``aux`` term weighted by the ``aux`` knob in ``methods/mspgsen.py`` (``extra_g_terms``), added to the main
  term by ``GANMethod.g_step``.

All functions take raw logits (N,) and return float32 scalars (softplus form: ``-log sigmoid(t) = softplus(-t)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def afe_d_loss(real_feat_logits: torch.Tensor, fake_feat_logits: torch.Tensor) -> torch.Tensor:
    """Eq (18): ``-E log D_aux(F_real) - E log(1 - D_aux(F_gen))``."""
    return F.softplus(-real_feat_logits.float()).mean() + F.softplus(fake_feat_logits.float()).mean()  # eq (18)


def afe_g_loss(fake_feat_logits: torch.Tensor) -> torch.Tensor:
    """Aux term of eq (19): ``-E log D_aux(F_gen)`` (G wants D_aux to take its features for real ones)."""
    return F.softplus(-fake_feat_logits.float()).mean()  # eq (19), second term
