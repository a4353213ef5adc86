"""dpedu: Diffusion Policy (Chi et al., RSS 2023) on DDPM (Ho et al., 2020), built to be read and run.

    from dpedu import Trainer
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, config={"n_diffusion_steps": 50})
    metrics = trainer.train(total_timesteps=50_000)
"""

__version__ = "0.1.0"

from dpedu.config import DPConfig  # noqa: E402
from dpedu.policy import DiffusionPolicy  # noqa: E402
from dpedu.trainer import Trainer  # noqa: E402

__all__ = ["DPConfig", "DiffusionPolicy", "Trainer", "__version__"]
