"""Training algorithms: how one step updates G and D."""
from .base import METHODS, Method, grad_norm, make_optimizer, set_lr

__all__ = ["METHODS", "Method", "grad_norm", "make_optimizer", "set_lr"]
