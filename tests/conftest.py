import os

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


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium under Playwright (tests/chromium.py); skipped without it, failed in CI."""
    from chromium import CHROMIUM, CHROMIUM_ARGS, importable, require

    require(importable("playwright"), "the Python package playwright is not installed (pip install playwright)")
    require(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
