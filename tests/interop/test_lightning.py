"""Lightning trains an unrolled model with our optimizer, and resumes from its checkpoint.

The oracles: three uninterrupted Lightning epochs, and `model.fit` for three epochs on the
same batches (its reference path runs the same update rule, so the weights agree exactly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import unrolled
from unrolled import optimizers

lightning = pytest.importorskip("lightning", reason="lightning is in the test extra")

T, F, U, N, BATCH = 4, 3, 5, 24, 8


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = rng.random((N, T, F), dtype=np.float32)
    return torch.from_numpy(x), torch.from_numpy(x.sum(axis=(1, 2))[:, None] / (T * F))


def _model(seed: int = 0) -> unrolled.Model:
    torch.manual_seed(seed)
    return unrolled.Sequential([unrolled.Input((T, F)), unrolled.LSTM(U), unrolled.Dense(1)])


class Regressor(lightning.LightningModule):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.model = _model(seed)

    def training_step(self, batch: list[torch.Tensor], batch_index: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.model(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return optimizers.Adam(self.parameters(), learning_rate=0.01)


def _train(module: Regressor, epochs: int, root: Path, ckpt_path: Path | None = None) -> None:
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=True,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*_data()), batch_size=BATCH, shuffle=False
    )
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    (optimizer,) = trainer.optimizers
    assert type(optimizer).__name__ == "AdamRule"  # ours, not a Lightning or torch stand-in
    assert optimizer.iterations == epochs * N // BATCH


def test_resumed_from_checkpoint_equals_uninterrupted_and_fit(tmp_path: Path) -> None:
    straight = Regressor()
    _train(straight, 3, tmp_path / "straight")

    first = Regressor()
    _train(first, 2, tmp_path / "interrupted")
    (checkpoint,) = (tmp_path / "interrupted" / "checkpoints").glob("*.ckpt")
    resumed = Regressor(seed=1)  # other weights: the checkpoint's must replace them
    _train(resumed, 3, tmp_path / "resumed", ckpt_path=checkpoint)

    fitted = _model()
    fitted.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse", fast_path=False)
    x, y = _data()
    fitted.fit(x.numpy(), y.numpy(), batch_size=BATCH, epochs=3, shuffle=False, verbose=0)

    for ours, theirs, keras_way in zip(
        resumed.model.parameters(), straight.model.parameters(), fitted.parameters()
    ):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
        torch.testing.assert_close(ours, keras_way, rtol=0, atol=0)
