"""Losses as pure functions: adversarial pairs, gradient penalties, feature matching (eq 12), and the paper's
contrastive (eq 7) and AFE (eqs 17-20) terms."""
from .adversarial import LOSSES, AdversarialLoss
from .feature_matching import feature_matching
from .penalties import gradient_penalty, r1_penalty

__all__ = ["LOSSES", "AdversarialLoss", "feature_matching", "gradient_penalty", "r1_penalty"]
