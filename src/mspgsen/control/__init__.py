"""Controllers that read a run's stats and turn its knobs (APFL, DQN balancer, BEGAN's k_t, NATS, schedules)."""
from .base import CONTROLLERS, ControlContext, Controller, Knobs, build_controllers

__all__ = ["CONTROLLERS", "ControlContext", "Controller", "Knobs", "build_controllers"]
