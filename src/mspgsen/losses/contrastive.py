"""The local/global contrastive loss of DEMA, L_LGCL (eq 7).

Reading of eq (7) used by the project: ``i`` indexes the samples of a batch. ``local[i]`` is the descriptor of the
focus (local, eqs 1-2) branch for sample ``i`` and ``global_[i]`` that of the expansion (global context, eqs 3-4)
branch for the same sample: the positive ``P_i``. The other samples' global descriptors ``P_j`` (j != i) are the
negatives. So the two branches must agree on *which image* they describe (they stay tied to the input) while the
projection heads that produce the descriptors leave their feature maps free to hold different (complementary) content.

``sim`` is cosine similarity, and the sum over ``i`` of the paper is a mean here, so the weight the method puts on the
loss does not depend on the batch size. With one sample the loss is 0 (a single candidate).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lgcl_loss(local: torch.Tensor, global_: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """L_LGCL (eq 7): InfoNCE of each sample's local descriptor against all samples' global descriptors.

    Args:
        local: (N, D) descriptors F_i of the local (focus) branch.
        global_: (N, D) descriptors P_i of the global (expansion) branch; row i is the positive of ``local[i]``.
        tau: temperature (> 0).

    Returns:
        Scalar tensor in float32 (computed outside autocast for a stable log-sum-exp).
    """
    if local.shape != global_.shape or local.dim() != 2:
        raise ValueError(f"lgcl_loss expects two (N, D) tensors of one shape, got {tuple(local.shape)} and "
                         f"{tuple(global_.shape)}")
    if tau <= 0:
        raise ValueError(f"lgcl_loss needs tau > 0, got {tau}")
    with torch.autocast(device_type=local.device.type, enabled=False):
        f = F.normalize(local.float(), dim=1)
        p = F.normalize(global_.float(), dim=1)
        logits = f @ p.t() / tau  # sim(F_i, P_j) / tau for every pair
        target = torch.arange(f.shape[0], device=f.device)
        return F.cross_entropy(logits, target)  # eq (7): mean_i -log softmax_j(...)[i]
