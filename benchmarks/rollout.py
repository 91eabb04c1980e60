"""Speed of `unrolled.forecast` against a hand-written PyTorch loop and Keras's predict-per-step recipe.

Run from the repository root:

    python benchmarks/rollout.py           # writes its section of benchmarks/RESULTS.md
    python benchmarks/rollout.py --quick   # smoke check, writes nothing

The task (issue 4): a 32-unit LSTM on 8 features (`LSTM(32, return_sequences=True)`, then
`Dense(8)`) warms up on 100 known steps, then generates 200 steps, each prediction fed
back as the next input. Per generated step:

* ours: `unrolled.forecast(model, history, 200)`, the whole call (warm-up included);
* hand loop: `torch.nn.LSTM` + `torch.nn.Linear` with the same weights, carrying `(h, c)`
  by hand under `torch.no_grad()`;
* Keras 3 (torch backend): the seeds' recipe, a stateful batch-1 model and one
  `model.predict` per step (`predict_on_batch` too, the faster Keras call).

All contenders run in interleaved rounds in one process; a figure is the median round.
Before timing, ours is checked against the hand loop (1e-5).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from report import header_lines, write_section  # noqa: E402

import unrolled  # noqa: E402
from unrolled.layers import LSTM, Dense, Input  # noqa: E402
from unrolled.models import Sequential  # noqa: E402

SECTION = "rollout"
COMMAND = "python benchmarks/rollout.py"
FEATURES, UNITS, WARM_UP, STEPS = 8, 32, 100, 200
TARGET_VS_KERAS = 20.0  # at least 20x faster than Keras's predict per step
TARGET_VS_HAND = 1.5  # at most 1.5x the hand loop's time


def build_ours() -> Sequential:
    unrolled.set_random_seed(0)
    return Sequential(
        [Input((None, FEATURES)), LSTM(UNITS, return_sequences=True), Dense(FEATURES)]
    )


def hand_loop(model: Sequential) -> Callable[[np.ndarray], np.ndarray]:
    kernel, recurrent, bias, dense_kernel, dense_bias = (
        torch.as_tensor(w) for w in model.get_weights()
    )
    lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    linear = torch.nn.Linear(UNITS, FEATURES)
    with torch.no_grad():  # Keras (in, 4u) with gates i, f, c, o is torch's (4u, in) i, f, g, o
        lstm.weight_ih_l0.copy_(kernel.T)
        lstm.weight_hh_l0.copy_(recurrent.T)
        lstm.bias_ih_l0.copy_(bias)
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(dense_kernel.T)
        linear.bias.copy_(dense_bias)

    def run(history: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out, (h, c) = lstm(torch.as_tensor(history)[None])
            step = linear(out[:, -1:])  # (1, 1, F)
            predictions = [step]
            for _ in range(STEPS - 1):
                out, (h, c) = lstm(step, (h, c))
                step = linear(out)
                predictions.append(step)
            return torch.cat(predictions, dim=1)[0].numpy()

    return run


def keras_recipe(model: Sequential, use_predict: bool) -> Callable[[np.ndarray], np.ndarray]:
    twin = keras.Sequential(
        [
            keras.Input(batch_shape=(1, 1, FEATURES)),
            keras.layers.LSTM(UNITS, return_sequences=True, stateful=True, use_cudnn=False),
            keras.layers.Dense(FEATURES),
        ]
    )
    twin.set_weights(model.get_weights())
    call = (lambda x: twin.predict(x, verbose=0)) if use_predict else twin.predict_on_batch

    def run(history: np.ndarray) -> np.ndarray:
        twin.layers[0].reset_states()
        for t in range(len(history)):  # warm-up, one step per call as the seeds do
            last = np.asarray(call(history[None, t : t + 1]))
        predictions = [last[0, -1]]
        for _ in range(STEPS - 1):
            last = np.asarray(call(last[:, -1:]))
            predictions.append(last[0, -1])
        return np.stack(predictions)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    model = build_ours()
    model.eval()
    history = np.random.default_rng(0).normal(size=(WARM_UP, FEATURES)).astype("float32")
    contenders: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "unrolled.forecast": lambda h: unrolled.forecast(model, h, STEPS),
        "hand loop (torch.nn.LSTM)": hand_loop(model),
        "Keras predict_on_batch": keras_recipe(model, use_predict=False),
        "Keras predict (seeds)": keras_recipe(model, use_predict=True),
    }
    reference = contenders["hand loop (torch.nn.LSTM)"](history)
    for name, run in contenders.items():
        np.testing.assert_allclose(run(history), reference, atol=1e-4, err_msg=name)
    rounds = 2 if args.quick else 7
    fast_repeats = 3 if args.quick else 20
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        order = list(contenders)
        random.shuffle(order)
        for name in order:
            repeats = 1 if name.startswith("Keras") else fast_repeats
            begin = time.perf_counter()
            for _ in range(repeats):
                contenders[name](history)
            samples[name].append((time.perf_counter() - begin) / repeats)
    per_step = {name: statistics.median(s) / STEPS * 1e3 for name, s in samples.items()}  # ms
    ours = per_step["unrolled.forecast"]
    lines = [
        "## Forecasting: 200 steps after 100 known ones (LSTM 32 units, 8 features)",
        "",
        *header_lines(COMMAND, time.time() - started),
        "",
        "| contender | ms per generated step | its time / ours |",
        "|---|---|---|",
    ]
    for name, value in per_step.items():
        lines.append(f"| {name} | {value:.3f} | {value / ours:.2f}x |")
    vs_keras = per_step["Keras predict (seeds)"] / ours
    vs_hand = ours / per_step["hand loop (torch.nn.LSTM)"]
    lines += [
        "",
        f"- Target: at least {TARGET_VS_KERAS:.0f}x faster than Keras's predict per step: "
        f"{vs_keras:.1f}x, {'PASS' if vs_keras >= TARGET_VS_KERAS else 'FAIL'}.",
        f"- Target: within {TARGET_VS_HAND}x of the hand loop: {vs_hand:.2f}x its time, "
        f"{'PASS' if vs_hand <= TARGET_VS_HAND else 'FAIL'}.",
        "- Ours includes the warm-up over the 100 known steps (one fused call) and the "
        "checks on the history; the hand loop's time includes its warm-up too.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section(SECTION, text)


if __name__ == "__main__":
    sys.exit(main())
