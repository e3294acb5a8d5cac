"""Import every built-in model, method and controller so that each registers itself.

A new component is added by writing its module and importing it here.
"""
from __future__ import annotations

from .control.base import CONTROLLERS
from .methods.base import METHODS
from .models.base import MODELS

# Built-in components (each import registers its entries).
from .models import dcgan  # noqa: F401,E402
from .models import mlp  # noqa: F401,E402
from .control import apfl, dqn, schedules  # noqa: F401,E402
from .methods import gan  # noqa: F401,E402
from .models import began  # noqa: F401,E402
from .methods import began as began_method  # noqa: F401,E402
from .methods import cfg  # noqa: F401,E402
from .control import began as began_control  # noqa: F401,E402
from .control import plateau  # noqa: F401,E402
from .control import nats  # noqa: F401,E402
from .models import msggan, mspgsen  # noqa: F401,E402
from .methods import mspgsen as mspgsen_method  # noqa: F401,E402

__all__ = ["CONTROLLERS", "METHODS", "MODELS"]
