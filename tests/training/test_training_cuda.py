"""CUDA: data follows the module to the GPU and training gives the CPU's numbers.

Skipped where no CUDA device is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.training import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(autouse=True)
def _exact_cuda_matmuls():
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad", "adamw", "nadam"])
def test_fit_on_cuda_matches_cpu(optimizer: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 2))
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        model.to(device)
        trainer = Trainer(model, optimizer=optimizer, loss="mse", metrics=["mae"])
        history = trainer.fit(x, y, epochs=3, batch_size=8, seed=1, validation_split=0.2, verbose=0)
        prediction = trainer.predict(x, verbose=0)
        assert isinstance(prediction, np.ndarray)
        results.append(
            (history.history, [p.detach().cpu() for p in model.parameters()], prediction)
        )
    (h_cpu, w_cpu, p_cpu), (h_gpu, w_gpu, p_gpu) = results
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-4, atol=1e-5)
    for a, b in zip(w_cpu, w_gpu):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-4, atol=1e-5)
