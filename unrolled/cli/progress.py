"""One progress bar per training run, over epochs (Keras draws one per epoch)."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from unrolled.training.callbacks import Callback


class EpochBar(Callback):
    """A tqdm bar advanced at each epoch's end, showing the loss."""

    def __init__(self, epochs: int, label: str, enabled: bool = True) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", disable=not enabled, leave=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.bar.set_postfix(loss=f"{(logs or {}).get('loss', float('nan')):.4f}")
        self.bar.update(1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.bar.close()
