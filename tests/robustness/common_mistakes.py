"""The README's "Common mistakes" section, generated from the errors unrolled really raises.

Each case is a snippet in the seeds' style that makes one of the five most common mistakes.
Running it gives the error; the section shows the snippet and the message. A test
(test_common_mistakes.py) checks that README.md holds exactly this text, so the messages
in the README cannot drift from the code.

    python tests/robustness/common_mistakes.py          # print the section
    python tests/robustness/common_mistakes.py --write  # rewrite it in README.md
"""

from __future__ import annotations

import re
import sys
import textwrap
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- common-mistakes:start -->", "<!-- common-mistakes:end -->"

PRELUDE = """\
import numpy as np
from unrolled import LSTM, Dense, Sequential
trainX = np.random.rand(100, 3, 1).astype("float32")  # (samples, timesteps, features)
trainY = np.random.rand(100, 1).astype("float32")
"""

# (title, why it happens, snippet); every snippet ends in the call that fails.
CASES = [
    (
        "2-D input to an LSTM",
        "the windows were never reshaped to `(samples, timesteps, features)`",
        """\
model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(trainX[:, :, 0], trainY)  # (100, 3): no features axis""",
    ),
    (
        "Stateful batch size mismatch",
        "a stateful layer keeps one state per batch row, so its batch size is fixed",
        """\
model = Sequential([LSTM(4, batch_input_shape=(1, 3, 1), stateful=True), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(trainX, trainY, batch_size=32, shuffle=False)""",
    ),
    (
        "Feature size changed after build",
        "the model learned weights for one feature per timestep and is given two",
        """\
model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
model.predict(np.random.rand(10, 3, 2))""",
    ),
    (
        "fit without compile",
        "the model has no loss or optimizer yet",
        """\
model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
model.fit(trainX, trainY)""",
    ),
    (
        "x and y of different lengths",
        "inputs and targets were cut from the series separately",
        """\
model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(trainX, trainY[:97])""",
    ),
]


def error_of(snippet: str) -> tuple[str, str]:
    """The class name and message of the error `snippet` raises."""
    from unrolled.errors import UnrolledError
    from unrolled.layers import base

    # Layer names as a fresh Python session gives them (`lstm`, not `lstm_37`), like
    # Keras's clear_session(); the counts are put back afterwards.
    counts = base._NAME_COUNTS.copy()
    base._NAME_COUNTS.clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(PRELUDE + snippet, "<common mistake>", "exec"), {})
    except UnrolledError as error:
        return type(error).__name__, str(error)
    finally:
        base._NAME_COUNTS.clear()
        base._NAME_COUNTS.update(counts)
    raise AssertionError(f"no error from:\n{snippet}")


def section() -> str:
    """The text between the README markers."""
    parts = []
    for number, (title, why, snippet) in enumerate(CASES, 1):
        kind, message = error_of(snippet)
        wrapped = textwrap.fill(
            f"{kind}: {message}", width=96, break_long_words=False, break_on_hyphens=False
        )
        parts.append(
            f"**{number}. {title}**: {why}.\n\n```python\n{snippet}\n```\n\n```text\n{wrapped}\n```\n"
        )
    return "\n" + "\n".join(parts) + "\n"


def readme_section(text: str) -> str:
    match = re.search(re.escape(START) + "(.*?)" + re.escape(END), text, flags=re.S)
    if match is None:
        raise AssertionError(f"README.md has no {START} ... {END} section")
    return match.group(1)


def write() -> None:
    text = README.read_text()  # read right before writing: others edit the README too
    current = readme_section(text)
    README.write_text(text.replace(START + current + END, START + section() + END, 1))


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        print(section())
