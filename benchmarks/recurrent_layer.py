"""Speed of `unrolled.LSTM` against `torch.nn.LSTM` and Keras 3's `keras.layers.LSTM` (torch backend).

Run from the repository root:

    python benchmarks/recurrent_layer.py           # full run (a few minutes), writes benchmarks/RESULTS.md
    python benchmarks/recurrent_layer.py --quick   # smoke check: few repetitions, writes nothing

What is timed, in one process, for configurations S, M and L:

* forward: ours and torch under `torch.no_grad()`; Keras as its plain call;
* train: forward, loss = mean of the last output, backward, `torch.optim.Adam` step
  (for Keras, Adam over the torch Parameters behind its variables);

each unmasked and with 30% pre-padding (the first 30% of each row's steps masked), and,
where the batch has several rows, with ragged pre-padding (each row padded by 0-60% of
the steps, 30% on average: rows padded differently, as real data is; ours only, since a
mask shared by all rows may take a shortcut that a ragged one cannot).
`torch.nn.LSTM` has no mask, so a masked row compares our masked time with torch's
unmasked time on the same padded data: the ratio a user switching from torch sees.

Method: every contender is warmed up, then the contenders of one configuration and
operation run in interleaved rounds (a fresh random order each round, so drift and
noise on this shared machine hit all of them alike). One sample times `inner`
back-to-back calls with `time.perf_counter`; a contender's figure is the median
sample. Ratios are `other time / our time`: above 1 means ours is faster.

Before timing, the script asserts that our layer takes the fused path ("fused"
unmasked, "fused-packed" masked) and that its outputs equal torch's to 1e-5
(and Keras's to 1e-4).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"  # before the first `import keras`

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from report import RESULTS, header_lines, load_average, write_section  # noqa: E402

import unrolled  # noqa: E402
from unrolled.ops import tracing  # noqa: E402

SECTION = "recurrent_layer"
COMMAND = "python benchmarks/recurrent_layer.py"

THREADS = 2
PAD_FRACTION = 0.3
SEED = 0

# Targets (per row): ratio torch/ours at M and L and for masked rows; overhead at S unmasked.
TARGET_RATIO_UNMASKED = 0.95
TARGET_RATIO_MASKED = 0.80
TARGET_OVERHEAD_S_US = 30.0


@dataclass(frozen=True)
class Config:
    name: str
    batch: int
    steps: int
    features: int
    units: int
    # Seconds of interleaved rounds per operation (full run), at least min_rounds and at
    # most max_rounds rounds.
    budget_s: float
    min_rounds: int
    max_rounds: int


CONFIGS = [
    Config("S", 1, 3, 1, 4, budget_s=10.0, min_rounds=30, max_rounds=2000),
    Config("M", 32, 50, 8, 64, budget_s=15.0, min_rounds=15, max_rounds=1000),
    Config("L", 64, 100, 32, 256, budget_s=28.0, min_rounds=6, max_rounds=500),
]
WARMUP_ROUNDS = 2
QUICK_ROUNDS = 2
FLOOR_ROUNDS = 3
BUSY_LOAD = 1.0  # 1-minute load average above which the section warns that the machine was busy
SAMPLE_TARGET_S = 0.002  # one sample times enough back-to-back calls to last about this long
MAX_INNER = 20


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------
def keras_weights(module: torch.nn.LSTM) -> list[np.ndarray]:
    """Keras layout `[kernel (F, 4U), recurrent_kernel (U, 4U), bias (4U,)]` of a torch LSTM."""
    return [
        module.weight_ih_l0.detach().T.numpy().copy(),
        module.weight_hh_l0.detach().T.numpy().copy(),
        (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy().copy(),
    ]


def make_torch(config: Config, seed: int) -> torch.nn.LSTM:
    torch.manual_seed(seed)
    return torch.nn.LSTM(config.features, config.units, batch_first=True)


def make_ours(config: Config, weights: list[np.ndarray]) -> unrolled.LSTM:
    layer = unrolled.LSTM(config.units, return_sequences=False)
    layer.set_weights(weights)
    return layer


def make_keras(config: Config, weights: list[np.ndarray], x: torch.Tensor) -> keras.layers.LSTM:
    layer = keras.layers.LSTM(config.units, return_sequences=False)
    layer(x)  # builds
    layer.set_weights(weights)
    return layer


def keras_parameters(layer: keras.layers.LSTM) -> list[torch.nn.Parameter]:
    # On the torch backend each Keras variable holds its torch Parameter in `.value`.
    params = [w.value for w in layer.trainable_weights]
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in params), params
    return params


def forward_fn(
    kind: str, layer: Any, x: torch.Tensor, mask: torch.Tensor | None
) -> Callable[[], Any]:
    if kind == "torch":

        def call() -> Any:
            with torch.no_grad():
                return layer(x)[0][:, -1]
    elif kind == "ours":

        def call() -> Any:
            with torch.no_grad():
                return layer(x, mask=mask)
    else:  # keras: its plain call, as a user writes it

        def call() -> Any:
            return layer(x, mask=mask)

    return call


def train_fn(
    kind: str,
    layer: Any,
    params: list[torch.nn.Parameter],
    x: torch.Tensor,
    mask: torch.Tensor | None,
) -> Callable[[], Any]:
    optimizer = torch.optim.Adam(params, lr=1e-4)

    if kind == "torch":

        def last():
            return layer(x)[0][:, -1]
    else:

        def last():
            return layer(x, mask=mask)

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = last().mean()
        loss.backward()
        optimizer.step()
        return loss

    return step


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------
@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)  # seconds per call, one per round

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def interleaved_round(
    contenders: dict[str, Callable[[], Any]],
    inner: dict[str, int],
    names: list[str],
    rng: random.Random,
) -> dict[str, float]:
    """One round: every contender once (`inner` back-to-back calls), in a fresh random order."""
    rng.shuffle(names)
    per_call = {}
    for name in names:
        fn, n = contenders[name], inner[name]
        start = time.perf_counter()
        for _ in range(n):
            fn()
        per_call[name] = (time.perf_counter() - start) / n
    return per_call


def measure(
    contenders: dict[str, Callable[[], Any]], config: Config, quick: bool, rng: random.Random
) -> tuple[dict[str, Timing], int]:
    names = list(contenders)
    # Warm-up (allocator, oneDNN primitive caches, Adam state), as interleaved single calls:
    # the per-call times seen here, under the same interleaving, size each sample.
    ones = {name: 1 for name in names}
    warm = [
        interleaved_round(contenders, ones, names, rng)
        for _ in range(1 if quick else WARMUP_ROUNDS)
    ]
    estimate = {name: statistics.median(w[name] for w in warm[-2:]) for name in names}
    inner = {
        name: max(1, min(MAX_INNER, round(SAMPLE_TARGET_S / estimate[name]))) for name in names
    }
    if quick:
        inner, min_rounds, max_rounds, budget_s = ones, QUICK_ROUNDS, QUICK_ROUNDS, 0.0
    else:
        min_rounds, max_rounds, budget_s = config.min_rounds, config.max_rounds, config.budget_s

    # Rounds until the time budget is spent, at most max_rounds; at least min_rounds unless
    # that takes twice the budget (a very busy machine), and never fewer than FLOOR_ROUNDS.
    timings = {name: Timing() for name in names}
    start = time.perf_counter()
    deadline, hard_deadline = start + budget_s, start + 2 * budget_s

    def more(rounds: int) -> bool:
        now = time.perf_counter()
        if rounds >= max_rounds:
            return False
        if rounds < FLOOR_ROUNDS or now < deadline:
            return True
        return rounds < min_rounds and now < hard_deadline

    rounds = 0
    gc.collect()
    gc.disable()
    try:
        while more(rounds):
            for name, seconds in interleaved_round(contenders, inner, names, rng).items():
                timings[name].samples.append(seconds)
            rounds += 1
            if rounds % 10 == 0:
                gc.collect()
    finally:
        gc.enable()
    return timings, rounds


def without_caches(call: Callable[[], Any]) -> Callable[[], Any]:
    """`call` with the kept tensors switched off (`unrolled.ops.tracing`): what they save."""

    def uncached() -> Any:
        tracing.caches_enabled = False
        try:
            return call()
        finally:
            tracing.caches_enabled = True

    return uncached


# --------------------------------------------------------------------------------------------
# Sanity
# --------------------------------------------------------------------------------------------
def check(
    config: Config,
    ours: unrolled.LSTM,
    torch_lstm: torch.nn.LSTM,
    keras_lstm: keras.layers.LSTM,
    x: torch.Tensor,
    mask: torch.Tensor,
    pad: int,
    ragged: tuple[torch.Tensor, torch.Tensor, list[int]] | None,
) -> dict[str, float]:
    """Asserts the fused paths and agreement; returns the largest differences seen."""
    with torch.no_grad():
        expected = torch_lstm(x)[0][:, -1]
        got = ours(x)
        assert ours.last_path is not None and ours.last_path.name == "fused", ours.last_path
        # Pre-padding with zero initial states: a masked LSTM equals torch on the valid suffix.
        expected_masked = torch_lstm(x[:, pad:])[0][:, -1]
        got_masked = ours(x, mask=mask)
        assert ours.last_path is not None and ours.last_path.name == "fused-packed", ours.last_path
        keras_out = keras_lstm(x).detach()
        keras_masked = keras_lstm(x, mask=mask).detach()
        if ragged is not None:
            x_ragged, mask_ragged, pads = ragged
            got_ragged = ours(x_ragged, mask=mask_ragged)
            assert ours.last_path is not None and ours.last_path.name == "fused-packed"
            expected_ragged = torch.cat(
                [torch_lstm(x_ragged[b : b + 1, p:])[0][:, -1] for b, p in enumerate(pads)]
            )
    diffs = {
        "torch": (got - expected).abs().max().item(),
        "torch_masked": (got_masked - expected_masked).abs().max().item(),
        "keras": (got - keras_out).abs().max().item(),
        "keras_masked": (got_masked - keras_masked).abs().max().item(),
    }
    if ragged is not None:
        diffs["torch_ragged"] = (got_ragged - expected_ragged).abs().max().item()
    for key, diff in diffs.items():
        tolerance = 1e-5 if key.startswith("torch") else 1e-4
        assert diff <= tolerance, (
            f"{config.name}: ours vs {key} differ by {diff:.3g} (> {tolerance:g})"
        )
    return diffs


# --------------------------------------------------------------------------------------------
# One configuration
# --------------------------------------------------------------------------------------------
@dataclass
class Row:
    config: str
    operation: str  # "forward" or "train"
    mask: str  # "none", "pre-pad 30%" (all rows alike) or "ragged" (rows padded differently)
    ours: float  # seconds per call
    torch: float  # torch.nn.LSTM unmasked, same data
    keras: float | None  # None: not timed (ragged rows)
    ratio_iqr: tuple[float, float]  # 25th-75th percentile of per-round torch/ours
    rounds: int
    target: str
    passed: bool
    noisy: bool  # the per-round IQR straddles the target
    overhead_us: float  # median over rounds of (ours - torch) per call, in microseconds

    @property
    def ratio(self) -> float:
        return self.torch / self.ours

    @property
    def keras_ratio(self) -> float | None:
        return None if self.keras is None else self.keras / self.ours


def paired_overhead_us(ours: Timing, torch_time: Timing) -> list[float]:
    """Per round, ours minus torch per call (microseconds): both timed in the same round."""
    return [(o - t) * 1e6 for o, t in zip(ours.samples, torch_time.samples)]


def quartiles(values: list[float]) -> tuple[float, float]:
    q = (
        statistics.quantiles(values, n=4, method="inclusive")
        if len(values) >= 2
        else [values[0]] * 3
    )
    return q[0], q[2]


def judge(config: Config, masked: bool, ours: Timing, torch_time: Timing) -> tuple[str, bool, bool]:
    """The row's target, whether the medians meet it, and whether the verdict is noisy.

    Noisy: the per-round figure's 25th-75th percentile range straddles the target, so
    another run on this machine could well give the other verdict.
    """
    if config.name == "S" and not masked:
        # The S target is the overhead of a like-for-like (unmasked) call; masked S
        # rows take the masked target of every size, below. The paired estimate: a round's
        # two samples share the machine's state of the moment, so their difference cancels
        # most of the drift that moves both medians.
        per_round = paired_overhead_us(ours, torch_time)
        overhead = statistics.median(per_round)
        low, high = quartiles(per_round)
        target = TARGET_OVERHEAD_S_US
        return f"overhead <= {target:g} us", overhead <= target, low <= target < high
    goal = TARGET_RATIO_MASKED if masked else TARGET_RATIO_UNMASKED
    low, high = quartiles([t / o for t, o in zip(torch_time.samples, ours.samples)])
    return f"torch/ours >= {goal:g}", torch_time.median / ours.median >= goal, low < goal <= high


# (config, operation, ours, ours without kept tensors, IQR of the per-round ratio)
CacheRow = tuple[str, str, float, float, tuple[float, float]]


def run_config(
    config: Config, quick: bool, rng: random.Random, cache_rows: list[CacheRow]
) -> tuple[list[Row], dict[str, float]]:
    torch.manual_seed(SEED)
    x = torch.randn(config.batch, config.steps, config.features)
    pad = max(1, round(PAD_FRACTION * config.steps))
    mask = torch.ones(config.batch, config.steps, dtype=torch.bool)
    mask[:, :pad] = False
    x_padded = x.clone()
    x_padded[:, :pad] = 0.0  # what pad_sequences leaves in the padded steps
    ragged = None
    if config.batch > 1:
        generator = torch.Generator().manual_seed(SEED)
        most = min(config.steps - 1, round(2 * PAD_FRACTION * config.steps))
        pads = torch.randint(0, most + 1, (config.batch,), generator=generator).tolist()
        mask_ragged = torch.arange(config.steps).unsqueeze(0) >= torch.tensor(pads).unsqueeze(1)
        x_ragged = x * mask_ragged.unsqueeze(-1)  # zeros in each row's padded steps
        ragged = (x_ragged, mask_ragged, pads)

    # One fresh, identically weighted instance per contender so Adam steps never interfere.
    reference = make_torch(config, SEED)
    weights = keras_weights(reference)
    diffs = check(
        config,
        make_ours(config, weights),
        reference,
        make_keras(config, weights, x),
        x_padded,
        mask,
        pad,
        ragged,
    )

    def fresh(kind: str) -> tuple[Any, list[torch.nn.Parameter]]:
        if kind == "torch":
            layer = make_torch(config, SEED)
            return layer, list(layer.parameters())
        if kind == "ours":
            layer = make_ours(config, weights)
            return layer, list(layer.parameters())
        layer = make_keras(config, weights, x)
        return layer, keras_parameters(layer)

    rows: list[Row] = []
    for operation in ("forward", "train"):
        contenders: dict[str, Callable[[], Any]] = {}
        plan = [
            ("ours", "ours", x_padded, None),
            ("torch", "torch", x_padded, None),
            ("keras", "keras", x_padded, None),
            ("ours_masked", "ours", x_padded, mask),
            ("keras_masked", "keras", x_padded, mask),
        ]
        if ragged is not None:
            plan.append(("ours_ragged", "ours", ragged[0], ragged[1]))
        plan.append(("ours_uncached", "ours", x_padded, None))
        for name, kind, data, m in plan:
            layer, params = fresh(kind)
            if operation == "forward":
                contenders[name] = forward_fn(kind, layer, data, m)
            else:
                contenders[name] = train_fn(kind, layer, params, data, m)
        contenders["ours_uncached"] = without_caches(contenders["ours_uncached"])
        timings, rounds = measure(contenders, config, quick, rng)
        torch_t = timings["torch"]
        variants = [
            ("none", "ours", "keras"),
            (f"pre-pad {PAD_FRACTION:.0%}", "ours_masked", "keras_masked"),
        ]
        if ragged is not None:
            variants.append(("ragged", "ours_ragged", None))
        for mask_kind, ours_name, keras_name in variants:
            ours_t = timings[ours_name]
            keras_t = None if keras_name is None else timings[keras_name].median
            paired = [t / o for t, o in zip(torch_t.samples, ours_t.samples)]
            target, passed, noisy = judge(config, mask_kind != "none", ours_t, torch_t)
            rows.append(
                Row(
                    config.name,
                    operation,
                    mask_kind,
                    ours_t.median,
                    torch_t.median,
                    keras_t,
                    quartiles(paired),
                    rounds,
                    target,
                    passed,
                    noisy,
                    statistics.median(paired_overhead_us(ours_t, torch_t)),
                )
            )
        uncached = timings["ours_uncached"]
        saved = [u / o for u, o in zip(uncached.samples, timings["ours"].samples)]
        cache_rows.append(
            (config.name, operation, timings["ours"].median, uncached.median, quartiles(saved))
        )
        print(f"  {config.name} {operation}: {rounds} rounds", flush=True)
    return rows, diffs


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def verdict(row: Row) -> str:
    return ("PASS" if row.passed else "FAIL") + (" (noisy)" if row.noisy else "")


def table(rows: list[Row]) -> str:
    header = (
        "| config | operation | mask | ours | torch.nn.LSTM | keras | torch/ours | (IQR) "
        "| keras/ours | ours - torch | target | result |\n"
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---|\n"
    )
    lines = []
    for r in rows:
        lines.append(
            f"| {r.config} | {r.operation} | {r.mask} "
            f"| {fmt_time(r.ours)} | {fmt_time(r.torch)} "
            f"| {'-' if r.keras is None else fmt_time(r.keras)} "
            f"| {r.ratio:.2f}x | {r.ratio_iqr[0]:.2f}-{r.ratio_iqr[1]:.2f} "
            f"| {'-' if r.keras_ratio is None else f'{r.keras_ratio:.2f}x'} "
            f"| {r.overhead_us:+.1f} us | {r.target} | {verdict(r)} |"
        )
    return header + "\n".join(lines) + "\n"


def cache_table(cache_rows: list[CacheRow]) -> str:
    """What the kept tensors save (zero states, torch's second bias, weight views), same rounds."""
    lines = [
        "What the kept tensors save (`unrolled/ops/tracing.py`): the same unmasked calls with",
        "them switched off, timed in the same interleaved rounds.",
        "",
        "| config | operation | ours | ours without kept tensors | without / with | (IQR) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, operation, kept, uncached, (low, high) in cache_rows:
        lines.append(
            f"| {name} | {operation} | {fmt_time(kept)} | {fmt_time(uncached)} "
            f"| {uncached / kept:.2f}x | {low:.2f}-{high:.2f} |"
        )
    return "\n".join(lines) + "\n"


def busy(load: tuple[str, str]) -> bool:
    try:
        return max(float(each.split()[0]) for each in load) > BUSY_LOAD
    except (ValueError, IndexError):
        return False


def section(
    rows: list[Row], diffs: dict[str, dict[str, float]], seconds: float, load: tuple[str, str]
) -> str:
    configs = ", ".join(
        f"{c.name} = (batch {c.batch}, {c.steps} steps, {c.features} features, {c.units} units)"
        for c in CONFIGS
    )
    failed = [r for r in rows if not r.passed]
    worst = max(max(d.values()) for d in diffs.values())
    return "\n".join(
        [
            "## Recurrent layer: `unrolled.LSTM` vs `torch.nn.LSTM` vs `keras.layers.LSTM`",
            "",
            *header_lines(COMMAND, seconds),
            f"- Load average (1, 5, 15 min): {load[0]} before the run, {load[1]} after; other work"
            " on the machine slows every contender alike, but adds noise.",
            f"- Configurations: {configs}. Mask `pre-pad {PAD_FRACTION:.0%}`: the first"
            f" {PAD_FRACTION:.0%} of every row's steps masked, all rows alike (mask passed to ours"
            " and Keras). Mask `ragged` (batches of several rows): each row pre-padded by"
            f" 0-{2 * PAD_FRACTION:.0%} of the steps, {PAD_FRACTION:.0%} on average, so rows differ"
            " and our layer packs them (ours only). torch.nn.LSTM has no mask: masked rows compare"
            " with its unmasked time on the same data.",
            "- forward: ours and torch under `torch.no_grad()`, Keras as its plain call. train:"
            " forward + loss (mean of the last output) + backward + `torch.optim.Adam` step.",
            "- Times are medians per call over interleaved rounds; `torch/ours` and `keras/ours` are"
            " time ratios (above 1: ours is faster); IQR is the 25th-75th percentile of the"
            " per-round torch/ours ratio. Figures come from one run on a shared machine.",
            *(
                [
                    f"- **Warning: the machine was busy** (1-minute load average above {BUSY_LOAD:g}"
                    " before or after the run): treat these figures as rough and rerun when it is quiet."
                ]
                if busy(load)
                else []
            ),
            f"- Sanity before timing: fused paths taken; largest |ours - torch| {worst:.1e}"
            " (<= 1e-5 vs torch, <= 1e-4 vs Keras).",
            "",
            table(rows),
            f"Targets: M and L unmasked torch/ours >= {TARGET_RATIO_UNMASKED:g}; masked >= "
            f"{TARGET_RATIO_MASKED:g} (vs torch unmasked, at every size: the issue's masked target);"
            f" S unmasked: ours - torch <= {TARGET_OVERHEAD_S_US:g} us per call (torch.nn.LSTM has no"
            " mask, so the overhead target compares like with like; a masked S call also reads its"
            " mask and slices its valid steps, and its overhead is shown). `ours - torch` is the median over rounds of the difference within a round"
            " (the paired estimate; for M and L the verdict uses the medians' ratio). `(noisy)`: the per-round figure's IQR straddles the target, so another run"
            " may flip the verdict. An S call is microseconds of arithmetic: with 2 threads on a busy"
            " machine, oneDNN's OpenMP threads waiting for a core can dominate its time, so S rows"
            " are the least reliable.",
            "",
            f"**{len(rows) - len(failed)} of {len(rows)} rows pass.**"
            + (
                " Failing: " + "; ".join(f"{r.config} {r.operation} {r.mask}" for r in failed) + "."
                if failed
                else ""
            ),
        ]
    )


# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions, smoke check; writes nothing"
    )
    parser.add_argument(
        "--configs", default="S,M,L", help="comma-separated subset of S,M,L; writes nothing"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"torch threads (default {THREADS}); others write nothing",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    load_before = load_average()
    rng = random.Random(SEED)
    wanted = {name.strip().upper() for name in args.configs.split(",")}
    started = time.perf_counter()
    print("\n".join(header_lines(COMMAND, 0)[1:3]), flush=True)  # machine, versions

    rows: list[Row] = []
    cache_rows: list[CacheRow] = []
    diffs: dict[str, dict[str, float]] = {}
    for config in CONFIGS:
        if config.name not in wanted:
            continue
        print(
            f"{config.name}: batch {config.batch}, {config.steps} steps, {config.features} features, "
            f"{config.units} units",
            flush=True,
        )
        config_rows, diffs[config.name] = run_config(config, args.quick, rng, cache_rows)
        rows += config_rows
    elapsed = time.perf_counter() - started
    load = (load_before, load_average())

    print()
    print(table(rows))
    print(cache_table(cache_rows))
    failed = [r for r in rows if not r.passed]
    print(
        f"{len(rows) - len(failed)} of {len(rows)} rows pass; {elapsed:.0f} s; load average {load[0]} -> {load[1]}"
    )
    if busy(load):
        print(
            f"warning: 1-minute load average above {BUSY_LOAD:g}: the machine was busy; figures are rough"
        )
    if args.quick:
        print("--quick: RESULTS.md not written")
    elif wanted != {c.name for c in CONFIGS} or args.threads != THREADS:
        print("not the full default run: RESULTS.md not written")
    else:
        write_section(SECTION, section(rows, diffs, elapsed, load) + "\n" + cache_table(cache_rows))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
