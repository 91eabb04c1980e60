"""Whether a call is being traced (torch.export, torch.compile, torch.jit.trace), and what
a call may therefore keep or read.

A few small tensors (zero initial states, torch's second bias, the fused operator's weight
views) are kept between calls because making them costs more than a tiny model's
arithmetic (`benchmarks/recurrent_layer.py --no-caches` measures it). Each is keyed on
everything that changes it, and none is kept while torch traces: such a tensor is fake or
symbolic, and a kept one would leak into the next eager call or bake one shape into the
traced program. Traced calls also cannot read a mask on the host (`ops.fused.host_mask`).
"""

from __future__ import annotations

import torch

# Switched off by the benchmark to measure what the caches save.
caches_enabled = True

_PLAIN = (torch.Tensor, torch.nn.Parameter)


def is_traced(x: torch.Tensor) -> bool:
    """Whether `x` (an input or a weight) belongs to a trace rather than an eager call."""
    return (
        type(x) not in _PLAIN  # a FakeTensor, a functional tensor or another wrapper
        or torch.compiler.is_compiling()  # Dynamo, torch.export
        or torch.jit.is_tracing()
    )


def may_keep(x: torch.Tensor) -> bool:
    """Whether tensors made for a call on `x` may be kept for later calls."""
    return caches_enabled and not is_traced(x)


def under_torch_compile() -> bool:
    """Whether Dynamo is compiling for `torch.compile` (not exporting)."""
    return torch.compiler.is_compiling() and not torch.compiler.is_exporting()


@torch.compiler.disable
def run_outside_the_graph(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Runs `function` eagerly between compiled graphs, as Dynamo runs `torch.nn.LSTM`.

    torch.compile cannot train through the CPU's fused RNN kernel (`mkldnn_rnn_layer` has
    no backward in its graphs), and the masked path reads the mask on the host.
    """
    return function(*args, **kwargs)
