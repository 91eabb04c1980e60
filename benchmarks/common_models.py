"""Issue 20's common models: one training epoch, ours against a hand torch loop and Keras 3.

Models (synthetic data, seeded; one epoch of 2,048 samples at batch 32, after a warm-up epoch):

- `imdb`: `Embedding(5000, 64, mask_zero) -> LSTM(64) -> Dense(1, sigmoid)`, binary
  cross-entropy, accuracy, 80 steps, pre-padded;
- `stacked`: `LSTM(50, return_sequences) -> LSTM(50) -> Dense(1)`, MSE, MAE metric, 30 steps;
- `seq2seq`: `LSTM(64, return_state)` whose states start `LSTM(64, return_sequences)`,
  `Dense(12, softmax)`, RMSprop, categorical cross-entropy, accuracy, teacher forcing, 10 steps;
- `tagger`: `Bidirectional(LSTM(32, return_sequences)) -> TimeDistributed(Dense(5, softmax))`,
  sparse categorical cross-entropy, accuracy, 40 steps;
- `airline`: the seeds' recipe as a control (`LSTM(4) -> Dense(1)`, windows of 3 months,
  Adam, MSE, batch 1, one epoch of its 92 samples);
- single-recurrent-layer models the compiled path takes since issue 20's first step:
  `clf_binary` (`LSTM(64) -> Dense(1, sigmoid)`, binary cross-entropy, accuracy, 80 steps of
  8 features), `clf_softmax` (`GRU(32) -> Dense(5, softmax)`, sparse categorical
  cross-entropy, accuracy, 40 steps), `regress_mae` (`LSTM(50) -> Dense(1)`, MSE, MAE metric,
  30 steps).

Contenders, each in its own process on one thread (parent and children take turns, so only
one trains at a time): `ours` (fit as it chooses its path), `ours-reference`
(`UNROLLED_FAST_PATH=0`: the reference path, i.e. before the compiled path took the model),
`torch-loop` (torch.nn.LSTM/GRU + torch.optim, written by hand), `keras-torch` and
`keras-jax` (Keras 3; JAX from `--jax-python`, an environment of its own: JAX is no test
dependency). Rounds are interleaved: each round runs every model on every contender.

    python benchmarks/common_models.py                       # writes its RESULTS.md section
    python benchmarks/common_models.py --quick               # 1 round, two models; writes nothing
    python benchmarks/common_models.py --jax-python /tmp/jaxenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SAMPLES, BATCH = 2048, 32
MODELS = (
    "imdb",
    "stacked",
    "seq2seq",
    "tagger",
    "airline",
    "clf_binary",
    "clf_softmax",
    "regress_mae",
)
HERE = Path(__file__).resolve()

# ---- data: the same arrays in every process ------------------------------------------------


def data(model: str) -> tuple[Any, Any]:
    """`(x, y)` for `model`; `x` a list for the two-input seq2seq model."""
    rng = np.random.default_rng(20)
    if model == "imdb":
        lengths = rng.integers(10, 81, SAMPLES)
        x = rng.integers(1, 5000, (SAMPLES, 80))
        x[np.arange(80)[None, :] < (80 - lengths)[:, None]] = 0  # pre-padded
        return x.astype("int32"), rng.integers(0, 2, (SAMPLES, 1)).astype("float32")
    if model in ("stacked", "regress_mae"):
        x = rng.standard_normal((SAMPLES, 30, 1)).astype("float32")
        return x, x.mean(axis=1)
    if model == "seq2seq":
        enc = np.eye(12, dtype="float32")[rng.integers(0, 12, (SAMPLES, 10))]
        target = np.eye(12, dtype="float32")[rng.integers(0, 12, (SAMPLES, 10))]
        dec = np.concatenate([np.zeros_like(target[:, :1]), target[:, :-1]], axis=1)
        return [enc, dec], target
    if model == "tagger":
        x = rng.standard_normal((SAMPLES, 40, 8)).astype("float32")
        return x, rng.integers(0, 5, (SAMPLES, 40)).astype("int32")
    if model == "clf_binary":
        x = rng.standard_normal((SAMPLES, 80, 8)).astype("float32")
        return x, (x[:, :, 0].mean(axis=1, keepdims=True) > 0).astype("float32")
    if model == "clf_softmax":
        x = rng.standard_normal((SAMPLES, 40, 8)).astype("float32")
        return x, rng.integers(0, 5, (SAMPLES,)).astype("int32")
    if model == "airline":  # as airline_recipe.airline_windows, read without importing torch
        csv = HERE.parent.parent / "unrolled" / "datasets" / "airline_passengers.csv"
        values = np.array([float(r.split(",")[1]) for r in csv.read_text().split()[1:]], "float32")
        scaled = (values - values.min()) / (values.max() - values.min())
        train = scaled[: int(len(scaled) * 0.67)]
        x = np.stack([train[i : i + 3] for i in range(len(train) - 4)])[:, :, None]
        return x, train[3 : len(train) - 1, None]
    raise ValueError(f"unknown model {model!r}")


def batch_size(model: str) -> int:
    return 1 if model == "airline" else BATCH


# ---- the floor: the products an epoch must run, at this core's best matrix-product rate ---


def recurrent_products(
    steps: float, samples: int, features: int, units: int, input_grad: bool, starts: bool
) -> float:
    """Floating-point operations of one recurrent direction's matrix products over `steps`
    sample-steps (live ones: a padded step runs none) of `samples` samples, forward and
    backward: the input projection, h @ R per step (none at a first step from zero states
    unless `starts`), its transpose backwards, the kernel's and recurrent kernel's
    gradients, and with `input_grad` the gradient by the input."""
    gates = 4 * units
    recurrent = steps if starts else steps - samples
    total = 2 * steps * features * gates * 2  # input projection; the kernel's gradient
    total += 2 * recurrent * units * gates * 2  # h @ R forwards; dz @ R^T backwards
    total += 2 * steps * units * gates  # the recurrent kernel's gradient
    if input_grad:
        total += 2 * steps * features * gates
    return total


# Each issue model's recurrent directions, `(steps per sample, features, units, gradient by
# the input, starts from another's states)` (steps None: the valid ones, ours skips
# padding), and its Dense head `(width, outputs, on every step)`.
PRODUCTS: dict[str, tuple[list[tuple[int | None, int, int, bool, bool]], tuple[int, int, bool]]] = {
    "imdb": ([(None, 64, 64, True, False)], (64, 1, False)),
    "stacked": ([(30, 1, 50, False, False), (30, 50, 50, True, False)], (50, 1, False)),
    "seq2seq": ([(10, 12, 64, False, False), (10, 12, 64, False, True)], (64, 12, True)),
    "tagger": ([(40, 8, 32, False, False)] * 2, (64, 5, True)),
}


def product_flops(model: str) -> float:
    """The matrix products of one epoch of `model` (every implementation runs at least
    these: a hand loop or XLA more where it does not skip padding)."""
    directions, (width, outputs, every_step) = PRODUCTS[model]
    total = 0.0
    for steps, features, units, input_grad, starts in directions:
        live = float((data(model)[0] != 0).sum()) if steps is None else SAMPLES * steps
        total += recurrent_products(live, SAMPLES, features, units, input_grad, starts)
        head_rows = live if every_step else SAMPLES  # the last level's steps, or its last
    return total + 3 * 2 * head_rows * width * outputs  # forward, kernel's and input's gradients


def best_product_rate(threads: int) -> float:
    """This machine's float32 matrix-product rate (FLOP/s) on `threads` threads: MKL's sgemm
    (torch.mm) on 1024 x 1024 matrices, the best of five, a rate the epochs' smaller
    products do not reach."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    out = torch.empty(1024, 1024)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / 10)
    return 2 * 1024**3 / best


# ---- the Keras-API contenders: Keras 3 and ours share one builder -----------------------


def keras_api_model(ns: Any, model: str) -> Any:
    """`model` built and compiled with `ns` (the `keras` module or `unrolled`)."""
    L = ns.layers
    if model == "imdb":
        net = ns.Sequential(
            [
                ns.Input((80,), dtype="int32"),
                L.Embedding(5000, 64, mask_zero=True),
                L.LSTM(64),
                L.Dense(1, activation="sigmoid"),
            ]
        )
        net.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    elif model in ("stacked", "regress_mae"):
        stack = [L.LSTM(50, return_sequences=True)] if model == "stacked" else []
        net = ns.Sequential([ns.Input((30, 1)), *stack, L.LSTM(50), L.Dense(1)])
        net.compile("adam", "mse", metrics=["mae"])
    elif model == "seq2seq":
        enc_in, dec_in = ns.Input((10, 12)), ns.Input((10, 12))
        _, h, c = L.LSTM(64, return_state=True)(enc_in)
        seq = L.LSTM(64, return_sequences=True)(dec_in, initial_state=[h, c])
        net = ns.Model([enc_in, dec_in], L.Dense(12, activation="softmax")(seq))
        net.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    elif model == "tagger":
        net = ns.Sequential(
            [
                ns.Input((40, 8)),
                L.Bidirectional(L.LSTM(32, return_sequences=True)),
                L.TimeDistributed(L.Dense(5, activation="softmax")),
            ]
        )
        net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    elif model == "airline":
        net = ns.Sequential([ns.Input((3, 1)), L.LSTM(4), L.Dense(1)])
        net.compile("adam", "mean_squared_error")
    elif model == "clf_binary":
        net = ns.Sequential([ns.Input((80, 8)), L.LSTM(64), L.Dense(1, activation="sigmoid")])
        net.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    elif model == "clf_softmax":
        net = ns.Sequential([ns.Input((40, 8)), L.GRU(32), L.Dense(5, activation="softmax")])
        net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        raise ValueError(model)
    return net


def keras_api_epoch(ns: Any, model: str) -> tuple[Any, str]:
    """A function training one epoch, and (ours) the path fit took."""
    net = keras_api_model(ns, model)
    x, y = data(model)
    size = batch_size(model)

    def epoch() -> None:
        net.fit(x, y, batch_size=size, epochs=1, verbose=0, shuffle=True)

    epoch()  # the warm-up epoch (compiles what each contender compiles)
    path = getattr(net, "last_fit_path", None)
    return epoch, "" if path is None else f"{path.name}: {path.reason}"


# ---- the hand-written torch loop -----------------------------------------------------------


def torch_epoch(model: str) -> tuple[Any, str]:
    """One epoch of a torch.nn model written by hand for `model` (torch.optim, shuffled batches)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(0)
    x, y = data(model)
    size = batch_size(model)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if model == "imdb":  # no masking: the padded steps run as any other
                self.embed = nn.Embedding(5000, 64, padding_idx=0)
                self.rnn = nn.LSTM(64, 64, batch_first=True)
                self.head = nn.Linear(64, 1)
            elif model in ("stacked", "regress_mae"):
                layers = 2 if model == "stacked" else 1
                self.rnn = nn.LSTM(1, 50, num_layers=layers, batch_first=True)
                self.head = nn.Linear(50, 1)
            elif model == "seq2seq":
                self.enc = nn.LSTM(12, 64, batch_first=True)
                self.rnn = nn.LSTM(12, 64, batch_first=True)
                self.head = nn.Linear(64, 12)
            elif model == "tagger":
                self.rnn = nn.LSTM(8, 32, batch_first=True, bidirectional=True)
                self.head = nn.Linear(64, 5)
            elif model == "airline":
                self.rnn = nn.LSTM(1, 4, batch_first=True)
                self.head = nn.Linear(4, 1)
            elif model == "clf_binary":
                self.rnn = nn.LSTM(8, 64, batch_first=True)
                self.head = nn.Linear(64, 1)
            elif model == "clf_softmax":
                self.rnn = nn.GRU(8, 32, batch_first=True)
                self.head = nn.Linear(32, 5)

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            if model == "seq2seq":
                _, state = self.enc(inputs[0])
                return self.head(self.rnn(inputs[1], state)[0])  # logits (B, T, 12)
            first = self.embed(inputs[0]) if model == "imdb" else inputs[0]
            seq = self.rnn(first)[0]
            return self.head(seq if model == "tagger" else seq[:, -1])

    net = Net()
    optimizer = (torch.optim.RMSprop if model == "seq2seq" else torch.optim.Adam)(
        net.parameters(), lr=1e-3
    )
    xs = [torch.from_numpy(a) for a in (x if isinstance(x, list) else [x])]
    if model == "imdb":
        xs = [xs[0].long()]
    target = torch.from_numpy(y)
    if model in ("tagger", "clf_softmax"):
        target = target.long()
    if model == "seq2seq":
        target = target.argmax(-1)

    def loss_and_accuracy(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if model in ("imdb", "clf_binary"):
            _ = ((out > 0) == (t > 0.5)).float().mean()
            return F.binary_cross_entropy_with_logits(out, t)
        if model in ("seq2seq", "tagger", "clf_softmax"):
            _ = (out.argmax(-1) == t).float().mean()
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1))
        _ = (out - t).abs().mean()
        return F.mse_loss(out, t)

    def epoch() -> None:
        order = torch.randperm(len(target))
        for start in range(0, len(target), size):
            rows = order[start : start + size]
            optimizer.zero_grad()
            loss = loss_and_accuracy(net(*[a[rows] for a in xs]), target[rows])
            loss.backward()
            optimizer.step()

    epoch()
    return epoch, ""


# ---- the child process: builds on request, times epochs on request --------------------------


def child(contender: str) -> None:
    """Reads `warm <model>` / `time <model>` lines; answers one JSON line each."""
    epochs: dict[str, Any] = {}
    for line in sys.stdin:
        command, model = line.split()
        if command == "warm":
            if contender == "torch-loop":
                epochs[model], path = torch_epoch(model)
            elif contender.startswith("keras"):
                import keras

                epochs[model], path = keras_api_epoch(keras, model)
            else:
                import unrolled

                epochs[model], path = keras_api_epoch(unrolled, model)
            print(json.dumps({"path": path}), flush=True)
        else:
            start = time.perf_counter()
            epochs[model]()
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def versions() -> str:
    return "import jax, keras; print(f'jax {jax.__version__}, keras {keras.__version__}')"


def start_children(
    contenders: list[str], jax_python: str | None, threads: int = 1
) -> dict[str, subprocess.Popen]:
    """One process per contender, each limited to `threads` threads (XLA: one, or its
    multi-threaded Eigen when more)."""
    xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    limits = {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "NUMBA_NUM_THREADS": str(threads),
        "XLA_FLAGS": xla
        if threads == 1
        else f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}",
        # Another checkout's `unrolled` (say, the commit before a change) when PYTHONPATH names it.
        "PYTHONPATH": os.environ.get("PYTHONPATH") or str(HERE.parent.parent),
    }
    children = {}
    for name in contenders:
        env = {**os.environ, **limits}
        python = sys.executable
        if name == "keras-jax":
            env["KERAS_BACKEND"], python = "jax", jax_python or sys.executable
        elif name == "keras-torch":
            env["KERAS_BACKEND"] = "torch"
        elif name == "ours-reference":
            env["UNROLLED_FAST_PATH"] = "0"
        code = (
            f"import sys, torch; torch.set_num_threads({threads}); "
            if name != "keras-jax"
            else "import sys; "
        )
        code += f"sys.path.insert(0, {str(HERE.parent)!r}); import common_models; "
        code += f"common_models.child({name!r})"
        # Run from benchmarks/: `python -c` puts the working directory first on sys.path,
        # which would shadow a PYTHONPATH checkout with the repository's own `unrolled`.
        children[name] = subprocess.Popen(
            [python, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=HERE.parent,
        )
    return children


def ask(process: subprocess.Popen, line: str) -> dict[str, Any]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()
    answer = process.stdout.readline()
    if not answer:
        raise RuntimeError(f"a contender's process ended on {line!r}")
    return json.loads(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    parser.add_argument("--quick", action="store_true", help="1 round of two models; no writing")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=1, help="threads per contender")
    parser.add_argument("--contenders", default="", help="a comma-separated subset (default: all)")
    args = parser.parse_args()
    models = ["airline", "clf_binary"] if args.quick else args.models.split(",")
    rounds = 1 if args.quick else args.rounds
    contenders = ["ours", "ours-reference", "torch-loop", "keras-torch"]
    jax_version = None
    if Path(args.jax_python).exists():
        probe = subprocess.run(
            [args.jax_python, "-c", versions()],
            capture_output=True,
            text=True,
            env={**os.environ, "KERAS_BACKEND": "jax"},
        )
        if probe.returncode == 0:
            jax_version = probe.stdout.strip()
            contenders.append("keras-jax")
    if args.contenders:
        contenders = [c for c in contenders if c in args.contenders.split(",")]
    began = time.perf_counter()
    rate = best_product_rate(args.threads)  # before the children start: a quiet machine
    children = start_children(contenders, args.jax_python, args.threads)
    paths: dict[str, str] = {}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for model in models:
            for name, process in children.items():
                answer = ask(process, f"warm {model}")
                if name == "ours":
                    paths[model] = answer["path"]
        for r in range(rounds):
            for model in models:
                names = list(children)
                names = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
                for name in names:
                    seconds = ask(children[name], f"time {model}")["seconds"]
                    times.setdefault((model, name), []).append(seconds)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        for process in children.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait()
    seconds = time.perf_counter() - began
    body = report(models, contenders, times, paths, rounds, jax_version, seconds, args.threads)
    body += floor_report(models, times, rate, args.threads)
    print(body)
    if not (args.quick or args.no_write):
        from report import write_section

        suffix = "" if args.threads == 1 else f"_{args.threads}_threads"
        write_section(f"common_models{suffix}", body)


def report(
    models: list[str],
    contenders: list[str],
    times: dict[tuple[str, str], list[float]],
    paths: dict[str, str],
    rounds: int,
    jax_version: str | None,
    seconds: float,
    threads: int = 1,
) -> str:
    from report import header_lines

    def median(model: str, name: str) -> float:
        return statistics.median(times[(model, name)])

    def cell(model: str, name: str) -> str:
        values = times[(model, name)]
        return f"{median(model, name):.3f} ({min(values):.3f}-{max(values):.3f})"

    def ratio(model: str, name: str) -> str:
        # The spread of the ratio: each round's ratio (the two ran back to back).
        per_round = [t / o for t, o in zip(times[(model, name)], times[(model, "ours")])]
        return (
            f"{median(model, name) / median(model, 'ours'):.2f}x "
            f"({min(per_round):.2f}-{max(per_round):.2f})"
        )

    others = [c for c in contenders if c != "ours"]
    lines = [
        "## Common models (issue 20): one training epoch, ours against a hand torch loop and Keras 3"
        + ("" if threads == 1 else f", {threads} threads"),
        "",
        *header_lines(
            "python benchmarks/common_models.py"
            + ("" if threads == 1 else f" --threads {threads}"),
            seconds,
        ),
        f"- Keras 3 on JAX: {jax_version if jax_version else 'not installed (skipped)'}"
        " in its own environment (not a test dependency)",
        f"- One epoch of {SAMPLES} samples at batch {BATCH} (airline: the seeds' 92 windows at "
        f"batch 1) after a warm-up epoch; one process per contender, {threads} thread"
        f"{'s' * (threads > 1)} each, {rounds} "
        "interleaved rounds; seconds as median (min-max); ratio = contender / ours, median "
        "(min-max of the per-round ratios). The machine is shared (2 cores, other jobs running): "
        "read the spreads.",
        "- `ours-reference` is ours with `UNROLLED_FAST_PATH=0` (the reference path); "
        "`torch-loop` is torch.nn.LSTM/GRU + torch.optim by hand (imdb: no masking).",
        "",
        "| model | "
        + " | ".join(contenders)
        + " | "
        + " | ".join(f"{c} / ours" for c in others)
        + " |",
        "|---|" + "---:|" * (len(contenders) + len(others)),
    ]
    for model in models:
        row = [cell(model, c) for c in contenders] + [ratio(model, c) for c in others]
        lines.append(f"| `{model}` | " + " | ".join(row) + " |")
    lines += ["", "Paths `ours` took:", ""]
    lines += [f"- `{model}`: {paths.get(model, '?')}" for model in models]
    return "\n".join(lines)


def floor_report(
    models: list[str], times: dict[tuple[str, str], list[float]], rate: float, threads: int
) -> str:
    """The issue's target for each of its four models (half the faster anchor's epoch)
    beside the epoch's matrix products alone at this core's best sgemm rate: where the
    products take longer than the target, no code built on sgemm can meet it."""
    anchors = [a for a in ("torch-loop", "keras-jax") if any(k[1] == a for k in times)]
    rows = [m for m in models if m in PRODUCTS and (m, "ours") in times]
    if not anchors or not rows:
        return ""
    lines = [
        "",
        "",
        f"The floor ({threads} thread{'s' * (threads > 1)}): each epoch's matrix products "
        f"(`product_flops`) at {rate / 1e9:.1f} GFLOP/s, MKL's best sgemm rate here (1024 x "
        "1024, `best_product_rate`), which the epochs' 32-row products do not reach; the "
        "target is half the faster anchor's median epoch (2x both).",
        "",
        "| model | products GFLOP | products alone s | target s | ours s | "
        "products alone / target | ours / products alone |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in rows:
        flops = product_flops(model)
        floor = flops / rate
        target = min(statistics.median(times[(model, a)]) for a in anchors) / 2
        ours = statistics.median(times[(model, "ours")])
        lines.append(
            f"| `{model}` | {flops / 1e9:.2f} | {floor:.3f} | {target:.3f} | {ours:.3f} | "
            f"{floor / target:.2f} | {ours / floor:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
