"""Plumbing a learner need not read to understand the algorithm: checkpoint files and trainer state,
torchrun helpers, Ctrl-C handling, progress bars and timings, the loss log, the fast planning path.

    checkpoint.py   atomic checkpoint files, checked reads, the policy's and the trainer's saved state
    distributed.py  torchrun / DistributedDataParallel helpers (each a no-op in a single process)
    interrupt.py    Ctrl-C that stops training at a step boundary
    device.py       resolve_device: the torch device a config's `device` names, checked against this machine
    progress.py     the progress bar, timings and interruption around Trainer.train's loop
    loss_log.py     the recent losses kept on the device, their history, and the stop on a NaN
    fast_plan.py    the sampler's loop with the MLP, rearranged to run in half the time (same samples)
"""
