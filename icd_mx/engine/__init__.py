"""Training engine: devices, kvstore, SGD rules, schedule, checkpoints, resume, logs."""
from .distributed import Reducer, launch_local, shard_batches
from .trainer import EXIT_NONFINITE, NonFiniteLossError, StepInfo, Task, fit, get_contexts, poly_lr

__all__ = ["EXIT_NONFINITE", "NonFiniteLossError", "Reducer", "StepInfo", "Task", "fit", "get_contexts",
           "launch_local", "poly_lr", "shard_batches"]
