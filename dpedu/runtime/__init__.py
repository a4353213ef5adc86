"""Plumbing a learner need not read to understand the algorithm: checkpoint files and trainer state,
torchrun helpers, Ctrl-C handling, progress bars and timings, the loss log.

    checkpoint.py   state dicts to and from files: atomic writes, a header, a format version, a CRC check on read
    env_state.py    a gymnasium environment's mid-episode state (physics, time limit, generator), for resume
    distributed.py  torchrun / DistributedDataParallel helpers (each a no-op in a single process)
    interrupt.py    Ctrl-C that stops training at a step boundary
    device.py       resolve_device: the torch device a config's `device` names, checked against this machine
    progress.py     the progress bar, timings and interruption around Trainer.train's loop
    loss_log.py     the recent losses kept on the device, their history, and the stop on a NaN
"""
