import pytest
import torch

from dpedu import Trainer

# Small networks on a 2-core box: one thread avoids oversubscription when tests run beside anything else.
torch.set_num_threads(1)

TINY = {"hidden_dim": 32, "n_layers": 2, "batch_size": 32, "warmup_steps": 200, "learning_rate": 1e-3,
        "n_diffusion_steps": 20, "n_inference_steps": 5}


@pytest.fixture(scope="session")
def tiny_trainer():
    """A Trainer after a short run (600 env steps, 401 updates): real, small, ~1 s."""
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=0, config=TINY, progress=False)
    trainer.train(600)
    return trainer
