"""`StackedRNNCells`: several cells run as one step, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled.layers.base import layer_from_spec
from unrolled.layers.cell import Cell
from unrolled.layers.cells_protocol import build_cell, call_cell, state_sizes


class StackedRNNCells(Cell):
    """Runs `cells` in order at every step; the output is the last cell's output.

    States are the cells' states in order, flattened: `[h1, c1, h2, c2]` for two LSTM
    cells. `RNN` regroups them per cell when it returns them, as Keras does.
    """

    def __init__(self, cells: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cells = nn.ModuleList([c for c in cells if isinstance(c, nn.Module)])
        self._all_cells = list(cells)  # plain-object user cells are kept too
        self.state_size = [size for cell in cells for size in state_sizes(cell)]

    @property
    def output_size(self) -> int:
        last = self._all_cells[-1]
        return getattr(last, "output_size", None) or state_sizes(last)[0]

    @property
    def weights(self) -> list[nn.Parameter]:
        """Each cell's weights in Keras order, cell after cell."""
        return [w for cell in self._all_cells for w in _weights_of(cell)]

    def build(self, input_shape: Sequence[int | None]) -> None:
        for cell in self._all_cells:
            build_cell(cell, tuple(input_shape))
            output_size = getattr(cell, "output_size", None) or state_sizes(cell)[0]
            input_shape = (input_shape[0], output_size)
        self.built = True

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new_states: list[torch.Tensor] = []
        for cell, cell_states in zip(self._all_cells, self.split_states(states)):
            inputs, cell_new = call_cell(cell, inputs, cell_states, training)
            new_states += cell_new
        return inputs, new_states

    def split_states(self, states: Sequence[Any]) -> list[list[Any]]:
        """Flat states to one list per cell."""
        groups, start = [], 0
        for cell in self._all_cells:
            count = len(state_sizes(cell))
            groups.append(list(states[start : start + count]))
            start += count
        return groups

    def fused_operator(self) -> str:
        return "stacked cells run together step by step"

    def reset_dropout_masks(self) -> None:
        for cell in self._all_cells:
            if isinstance(cell, Cell):
                cell.reset_dropout_masks()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cells": [
                {"class_name": type(c).__name__, "config": c.get_config()} for c in self._all_cells
            ],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StackedRNNCells:
        config = dict(config)
        config["cells"] = [layer_from_spec(cell) for cell in config.get("cells", [])]
        return cls(**config)


def _weights_of(cell: Any) -> list[nn.Parameter]:
    if isinstance(cell, Cell):
        return cell.weights
    return list(cell.parameters()) if isinstance(cell, nn.Module) else []
