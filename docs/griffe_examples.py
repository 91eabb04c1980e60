"""A griffe extension for the API reference: our `Example:` sections render as examples.

Our docstrings head their doctests `Example:` (Google style, as Keras and our STYLE.md
write it); griffe's Google parser knows only `Examples:` and would render the `>>>` lines
as Markdown (block quotes). Renaming the heading before parsing gives them griffe's
examples section: Python console code, highlighted, with doctest flags trimmed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
