"""Probes behind issue 9's M and L verdicts: can a compiled route beat torch.nn.LSTM's training step?

Run from the repository root (about two minutes; most of it is torch.compile compiling):

    python benchmarks/compiled_probes.py           # writes its section of benchmarks/RESULTS.md
    python benchmarks/compiled_probes.py --quick   # fewer repetitions, writes nothing

Two routes the issue names, each measured at M (batch 32, 50 steps, 8 features, 64 units)
beside `torch.nn.LSTM` in the same process:

* numba: the compiled kernels' arithmetic is IEEE float32 without fastmath, so LLVM leaves
  `exp` scalar (numba's vector math library, SVML, is not available here). The probe times
  the sigmoids of one forward pass's gates (batch * steps * 4 * units values) in a
  numba loop, against `torch.sigmoid` on the same values: the share of torch.nn.LSTM's
  whole training step that this alone would take.
* torch.compile (Inductor, CPU): an LSTM training step written as the step loop in torch
  operations (Keras-layout weights, one addmm per step), compiled, against torch.nn.LSTM.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")  # report.header_lines reads Keras's version

import numpy as np  # noqa: E402
import torch  # noqa: E402
from report import header_lines, load_average, write_section  # noqa: E402

SECTION = "compiled_probes"
COMMAND = "python benchmarks/compiled_probes.py"
BATCH, STEPS, FEATURES, UNITS = 32, 50, 8, 64


def median_seconds(call: Callable[[], object], rounds: int, inner: int) -> float:
    call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def scalar_sigmoid_kernel() -> Callable[[np.ndarray, np.ndarray], None]:
    import numba

    @numba.njit(cache=False, error_model="numpy")
    def sigmoid(values, out):  # type: ignore[no-untyped-def]
        for i in range(values.shape[0]):
            out[i] = np.float32(1.0) / (np.float32(1.0) + np.exp(-values[i]))

    return sigmoid


def lstm_last_output(
    x: torch.Tensor, kernel: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """The LSTM's last output by its step loop: Keras layout, gates i, f, c, o."""
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    projected = (x.reshape(batch * steps, -1) @ kernel + bias).view(batch, steps, 4 * units)
    h = x.new_zeros(batch, units)
    c = x.new_zeros(batch, units)
    for t in range(steps):
        i, f, g, o = torch.addmm(projected[:, t], h, recurrent).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    return h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; writes nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    rounds = 3 if args.quick else 15
    began, load_before = time.perf_counter(), load_average()
    torch.manual_seed(0)
    x = torch.randn(BATCH, STEPS, FEATURES)

    reference = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    reference_adam = torch.optim.Adam(reference.parameters())

    def reference_step() -> None:
        reference_adam.zero_grad()
        reference(x)[0][:, -1].mean().backward()
        reference_adam.step()

    torch_step = median_seconds(reference_step, rounds, 10)

    # numba: the forward gates' sigmoids alone, scalar exp.
    gates = np.random.default_rng(0).standard_normal(BATCH * STEPS * 4 * UNITS).astype(np.float32)
    out = np.empty_like(gates)
    sigmoid = scalar_sigmoid_kernel()
    numba_sigmoid = median_seconds(lambda: sigmoid(gates, out), rounds, 10)
    gates_tensor = torch.from_numpy(gates)
    torch_sigmoid = median_seconds(lambda: torch.sigmoid(gates_tensor), rounds, 10)

    # torch.compile: the step loop, compiled, trained with Adam.
    kernel = reference.weight_ih_l0.detach().t().contiguous().requires_grad_()
    recurrent = reference.weight_hh_l0.detach().t().contiguous().requires_grad_()
    bias = (reference.bias_ih_l0 + reference.bias_hh_l0).detach().clone().requires_grad_()
    compiled = torch.compile(lstm_last_output)
    compiled_adam = torch.optim.Adam([kernel, recurrent, bias])

    def compiled_step() -> None:
        compiled_adam.zero_grad()
        compiled(x, kernel, recurrent, bias).mean().backward()
        compiled_adam.step()

    start = time.perf_counter()
    compiled_step()
    compile_seconds = time.perf_counter() - start
    with torch.no_grad():
        difference = (
            (compiled(x, kernel, recurrent, bias) - lstm_last_output(x, kernel, recurrent, bias))
            .abs()
            .max()
            .item()
        )
    compiled_time = median_seconds(compiled_step, rounds, 10)
    torch_step_again = median_seconds(reference_step, rounds, 10)
    torch_step = min(torch_step, torch_step_again)

    rows = [
        "| probe at M | time | torch.nn.LSTM training step | share or ratio | needed for 2x |",
        "|---|---:|---:|---|---|",
        f"| numba, scalar `exp`: sigmoids of one forward pass's gates ({gates.size:,} values) "
        f"| {numba_sigmoid * 1e3:.2f} ms | {torch_step * 1e3:.2f} ms "
        f"| {numba_sigmoid / torch_step:.0%} of torch's whole step "
        f"(torch.sigmoid on the same values: {torch_sigmoid * 1e3:.2f} ms) "
        "| the whole step in 50% |",
        f"| torch.compile (Inductor) of the step loop, training step "
        f"| {compiled_time * 1e3:.2f} ms | {torch_step * 1e3:.2f} ms "
        f"| {torch_step / compiled_time:.2f}x of torch.nn.LSTM's speed "
        f"(first step, compiling: {compile_seconds:.0f} s; outputs within {difference:.1e} of eager) "
        "| 2x |",
    ]
    seconds = time.perf_counter() - began
    print("\n".join(rows))
    if args.quick:
        print("--quick: RESULTS.md not written")
        return 0
    lines = [
        "## Compiled-route probes at M (issue 9)",
        "",
        *header_lines(COMMAND, seconds),
        f"- Load average (1, 5, 15 min): {load_before} before the run, {load_average()} after.",
        "- Medians over rounds of 10 calls; torch.nn.LSTM's step is the faster of "
        "two measurements (before and after the compiled runs).",
        "",
        *rows,
        "",
        "Reading: the numba kernels keep torch's float32 math without fastmath, so each sigmoid "
        "and tanh is a scalar `exp`; at M the forward gates' sigmoids alone take the share above "
        "of torch.nn.LSTM's entire training step, before the tanh terms, the matmuls and the "
        "backward pass. Inductor's compiled step loop is slower than the fused oneDNN operator. "
        "Neither route reaches 2x at M.",
    ]
    write_section(SECTION, "\n".join(lines))
    print("wrote benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
