"""Explanations of a model that read its modules and change nothing."""

from unrolled.explain.parameters import GateParameters, gate_parameters
from unrolled.explain.summary import summary_text

__all__ = ["GateParameters", "gate_parameters", "summary_text"]
