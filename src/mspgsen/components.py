"""Import every built-in model, method and controller so that each registers itself.

A new component is added by writing its module and importing it here.
"""
from __future__ import annotations

from .control.base import CONTROLLERS
from .methods.base import METHODS
from .models.base import MODELS

# Each import registers its entries.
from .models import began as _began_model, dcgan, mlp, msggan, mspgsen  # noqa: F401,E402
from .methods import began as _began_method, cfg, gan, mspgsen as _mspgsen_method  # noqa: F401,E402
from .control import apfl, dqn, nats, plateau, schedules, began as _began_control  # noqa: F401,E402

__all__ = ["CONTROLLERS", "METHODS", "MODELS"]
