"""The README's "Common mistakes" section is the library's real error text (regenerate it with
`python tests/robustness/common_mistakes.py --write`)."""

from __future__ import annotations

from robustness import common_mistakes
from robustness.contract import names_in

import unrolled


def test_each_common_mistake_raises_our_error_naming_the_argument() -> None:
    names = ["x", "batch_size", "x", "compile", "y"]
    for (title, _, snippet), name in zip(common_mistakes.CASES, names, strict=True):
        kind, message = common_mistakes.error_of(snippet)
        error_class = getattr(unrolled, kind)
        assert issubclass(error_class, unrolled.UnrolledError), title
        assert issubclass(error_class, (ValueError, TypeError)), title
        assert names_in(message, [name]), (title, message)


def test_the_readme_section_is_generated_from_the_real_messages() -> None:
    readme = common_mistakes.README.read_text()
    assert common_mistakes.readme_section(readme) == common_mistakes.section(), (
        "README.md's Common mistakes section is out of date: run "
        "`python tests/robustness/common_mistakes.py --write`"
    )
    # After "## Differences from Keras", as the issue asks.
    assert readme.index("## Differences from Keras") < readme.index("## Common mistakes")
