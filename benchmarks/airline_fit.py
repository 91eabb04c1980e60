"""The seeds' airline workload: stateful LSTM(4) + Dense(1), batch size 1, 100 epochs with a reset each.

Side by side in one process: our `fit`, a minimal hand-written PyTorch loop (torch.nn.LSTM +
Linear carrying (h, c) between batches), and Keras 3 on its torch backend (the seeds' loop of
`fit(epochs=1)` then a reset). Keras takes about a minute for 100 epochs here, so it runs
`--keras-epochs` epochs (10 by default) and its time per epoch is scaled to 100 (stated in the
results). Also `predict` on 10,000 windows: ours against Keras's.

    python benchmarks/airline_fit.py            # writes its section of RESULTS.md
    python benchmarks/airline_fit.py --quick    # 5 epochs each, writes nothing
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from airline_recipe import LOOK_BACK, airline_windows, hand_loop_fit  # noqa: E402
from report import header_lines, write_section  # noqa: E402

import unrolled  # noqa: E402
from unrolled.callbacks import ResetStates  # noqa: E402

UNITS, EPOCHS = 4, 100
FIT_TARGET_VS_HAND, FIT_TARGET_VS_KERAS, PREDICT_TARGET_VS_KERAS = 1.25, 5.0, 3.0


def ours_fit(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    unrolled.set_random_seed(0)
    model = unrolled.Sequential(
        [
            unrolled.LSTM(UNITS, batch_input_shape=(1, LOOK_BACK, 1), stateful=True),
            unrolled.Dense(1),
        ]
    )
    model.compile(loss="mean_squared_error", optimizer="adam")
    start = time.perf_counter()
    model.fit(
        x, y, epochs=epochs, batch_size=1, verbose=0, shuffle=False, callbacks=[ResetStates()]
    )
    return time.perf_counter() - start


def keras_fit(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(batch_shape=(1, LOOK_BACK, 1)),
            keras.layers.LSTM(UNITS, stateful=True, use_cudnn=False),
            keras.layers.Dense(1),
        ]
    )
    model.compile(loss="mean_squared_error", optimizer="adam")
    start = time.perf_counter()
    for _ in range(epochs):  # the seeds' loop
        model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        for layer in model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()
    return time.perf_counter() - start


def predict_times(repeats: int) -> tuple[float, float]:
    """Median seconds to predict 10,000 windows (default batch size 32) for ours and Keras."""
    rng = np.random.default_rng(0)
    windows = rng.uniform(size=(10_000, LOOK_BACK, 1)).astype(np.float32)
    ours = unrolled.Sequential(
        [unrolled.LSTM(UNITS, input_shape=(LOOK_BACK, 1)), unrolled.Dense(1)]
    )
    theirs = keras.Sequential(
        [keras.Input((LOOK_BACK, 1)), keras.layers.LSTM(UNITS), keras.layers.Dense(1)]
    )
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(
        ours.predict(windows[:64], verbose=0), theirs.predict(windows[:64], verbose=0), atol=1e-5
    )
    ours_runs, keras_runs = [], []
    for _ in range(repeats):  # interleaved so both see the same machine noise
        start = time.perf_counter()
        ours.predict(windows, verbose=0)
        ours_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs.predict(windows, verbose=0)
        keras_runs.append(time.perf_counter() - start)
    return float(np.median(ours_runs)), float(np.median(keras_runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs each; writes nothing")
    parser.add_argument("--keras-epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    x, y = airline_windows()
    epochs = 5 if args.quick else EPOCHS
    keras_epochs = min(args.keras_epochs, epochs)
    began = time.perf_counter()

    (
        ours_fit(x, y, 2),
        hand_loop_fit(x, y, 2),
        keras_fit(x, y, 1),
    )  # warm up: imports, allocators, caches
    ours_first = ours_fit(x, y, epochs)
    hand = hand_loop_fit(x, y, epochs)
    ours_second = ours_fit(x, y, epochs)
    keras_time = keras_fit(x, y, keras_epochs) * epochs / keras_epochs
    ours = min(ours_first, ours_second)
    ours_predict, keras_predict = predict_times(3 if args.quick else 7)

    rows = [
        (
            "fit, 100 epochs",
            f"{ours:.2f} s",
            f"{hand:.2f} s",
            f"{keras_time:.1f} s",
            f"{ours / hand:.2f}x of hand loop",
            f"{keras_time / ours:.1f}x faster than Keras",
            ours / hand <= FIT_TARGET_VS_HAND and keras_time / ours >= FIT_TARGET_VS_KERAS,
        ),
        (
            "predict 10,000 windows",
            f"{ours_predict * 1e3:.0f} ms",
            "",
            f"{keras_predict * 1e3:.0f} ms",
            "",
            f"{keras_predict / ours_predict:.1f}x faster than Keras",
            keras_predict / ours_predict >= PREDICT_TARGET_VS_KERAS,
        ),
    ]
    lines = [
        "## Airline workload: stateful `LSTM(4)` + `Dense(1)`, batch size 1, 100 epochs",
        "",
        *header_lines("python benchmarks/airline_fit.py", time.perf_counter() - began),
        f"- Data: the bundled airline series, min-max scaled, first 67% as training, look_back {LOOK_BACK}: "
        f"{len(x)} windows, so {len(x)} optimizer steps per epoch.",
        "- ours: `Sequential([LSTM(4, batch_input_shape=(1, 3, 1), stateful=True), Dense(1)])`, `fit(epochs=100,"
        " batch_size=1, shuffle=False, callbacks=[ResetStates()])` (best of two runs). hand loop: torch.nn.LSTM +"
        " Linear, Adam, (h, c) carried and detached, reset each epoch. Keras: the seeds' `for` loop of"
        f" `fit(epochs=1)` and a reset; {keras_epochs} epochs timed and scaled to {epochs}.",
        "- predict: a stateless `LSTM(4)` + `Dense(1)` with the same weights in both, default batch size 32,"
        " median of interleaved runs.",
        "",
        "| workload | ours | hand loop | Keras 3 (torch) | vs hand loop | vs Keras | target met |",
        "|---|---:|---:|---:|---:|---:|---|",
        *(
            f"| {a} | {b} | {c} | {d} | {e} | {f} | {'PASS' if ok else 'FAIL'} |"
            for a, b, c, d, e, f, ok in rows
        ),
        "",
        f"Targets: fit within {FIT_TARGET_VS_HAND}x of the hand loop and at least {FIT_TARGET_VS_KERAS:g}x faster"
        f" than Keras; predict at least {PREDICT_TARGET_VS_KERAS:g}x faster than Keras.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section("airline_fit", text)


if __name__ == "__main__":
    main()
