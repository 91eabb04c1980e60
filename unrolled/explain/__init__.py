"""Explanations of a model that read its modules and change nothing.

    shape_trace(model)        each layer's shapes in (samples, timesteps, features) words,
                              its compute path, and the model's topology
    topology_of(model)        "many-to-one", "seq2seq", ... (see TOPOLOGIES)
    gate_parameters(x)        each gate's kernel, recurrent kernel and bias slice
    layer_gates(x)            the same grouped per recurrent layer, with the formula
    explain_text(model)       all of the above as text, with the one-block answer
    diagram(model)            the unrolled picture: boxes and arrows, to_svg(), save()
    gate_activations(model, x)  i, f, g, o, c, h of one sample, step by step
    plot_history, plot_forecast, plot_gate_activations   PNG plots (matplotlib, Agg)

matplotlib is imported only when a PNG is drawn.
"""

from unrolled.explain.diagram import Arrow, Box, Diagram, diagram
from unrolled.explain.gates import gate_activations
from unrolled.explain.parameters import GateParameters, LayerGates, gate_parameters, layer_gates
from unrolled.explain.plots import plot_forecast, plot_gate_activations, plot_history
from unrolled.explain.report import explain_text
from unrolled.explain.shapes import shape_words
from unrolled.explain.summary import summary_text
from unrolled.explain.trace import ShapeTrace, TraceRow, shape_trace, topology_of
from unrolled.explain.unrolling import TOPOLOGIES

__all__ = [
    "TOPOLOGIES",
    "Arrow",
    "Box",
    "Diagram",
    "GateParameters",
    "LayerGates",
    "ShapeTrace",
    "TraceRow",
    "diagram",
    "explain_text",
    "gate_activations",
    "gate_parameters",
    "layer_gates",
    "plot_forecast",
    "plot_gate_activations",
    "plot_history",
    "shape_trace",
    "shape_words",
    "summary_text",
    "topology_of",
]
