"""Generated command lines with one bad option or a bad data file: the CLI answers with exit
code 1 and one line on stderr naming the option or file (argparse's own refusals exit 2),
never a traceback. Runs `unrolled.cli.main.main` in this process (the end-to-end runs are
in tests/cli)."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from robustness import contract
from robustness.contract import counted

from unrolled.cli.main import main

FOLDER = Path(tempfile.mkdtemp(prefix="unrolled-robust-cli-"))
ROWS = [f"2000-{i:03d},{10 + (i % 12) + 0.1 * i:.2f},{i % 3}" for i in range(40)]
CSV = FOLDER / "ok.csv"
CSV.write_text("date,value,other\n" + "\n".join(ROWS) + "\n")
FILES = {
    "text cell": "date,value\n" + "\n".join(f"{i},abc" for i in range(40)),
    "empty cell": "date,value\n" + "\n".join(f"{i},{'' if i == 5 else i}" for i in range(40)),
    "too few rows": "date,value\n1,2\n2,3\n",
    "empty file": "",
    "header only": "date,value\n",
}
for name, text in FILES.items():
    (FOLDER / f"{name.replace(' ', '_')}.csv").write_text(text)

BASE = ["--units", "2", "--epochs", "1", "--look-back", "3", "--horizon", "1", "--test", "4"]
BASE += ["--steps", "2", "--season", "0", "--quiet", "--out", str(FOLDER / "out")]

# option -> (bad values, the words a message may name it by)
OPTIONS = {
    "--look-back": (["0", "-3"], ("look_back", "--look-back")),
    "--horizon": (["0", "-1"], ("horizon", "--horizon")),
    "--epochs": (["0", "-2"], ("epochs", "--epochs")),
    "--batch-size": (["0", "-4"], ("batch_size", "--batch-size")),
    "--units": (["0", "a", ",,", "2,-1"], ("units", "--units")),
    "--learning-rate": (["0", "-0.1", "nan", "inf"], ("learning_rate", "--learning-rate")),
    "--test": (["0", "-1", "100"], ("test_steps", "--test")),
    "--steps": (["0", "-5"], ("future_steps", "--steps")),
    "--season": (["-1"], ("season", "--season")),
    "--target": (["nope"], ("nope",)),
    "--features": (["nope", "value,nope"], ("nope",)),
    "--date": (["nope"], ("nope",)),
    "--topology": (["many_to_many"], ("--topology",)),
    "--cell": (["lstmm"], ("--cell",)),
    "--transform": (["logg"], ("--transform",)),
    "--look-back ": (["three", "2.5"], ("--look-back",)),  # not an int: argparse refuses
}


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
    return code, err.getvalue()


def check(kind: str, argv: list[str], names: tuple[str, ...]) -> None:
    contract.CLASSES.add(kind)
    contract.TALLY["calls"] += 1
    code, err = run(argv)
    assert "Traceback" not in err, err
    if code == 2:  # argparse: usage, then "unrolled fit: error: argument --x: ..."
        assert "error: argument" in err and contract.names_in(err, names), err
    else:
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, (code, err)
        assert lines[0].startswith("unrolled "), lines
        assert contract.names_in(lines[0], names), (names, lines[0])
    contract.TALLY["refused"] += 1
    contract.REFUSED.add(kind)


@given(option=st.sampled_from(sorted(OPTIONS)), draw=st.data())
@counted
def test_fit_with_one_bad_option_fails_in_one_line_naming_it(option, draw):
    values, names = OPTIONS[option]
    value = draw.draw(st.sampled_from(values))
    argv = ["fit", str(CSV), "--target", "value", *BASE]
    flag = option.strip()
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    check(f"CLI fit {flag}", argv, names)


@given(problem=st.sampled_from([*FILES, "missing file", "directory"]))
@counted
def test_fit_on_a_bad_data_file_fails_in_one_line_naming_the_file(problem):
    path = {
        "missing file": FOLDER / "missing.csv",
        "directory": FOLDER,
    }.get(problem, FOLDER / f"{problem.replace(' ', '_')}.csv")
    # Too few rows is a mismatch of the file and the options: the message names the options.
    names = (path.name, "--look-back") if problem == "too few rows" else (path.name,)
    check(f"CLI data: {problem}", ["fit", str(path), "--target", "value", *BASE], names)


@given(
    command=st.sampled_from(["forecast", "evaluate"]),
    model=st.sampled_from(["missing", "csv instead", "empty folder"]),
)
@counted
def test_commands_on_a_bad_model_folder_fail_in_one_line_naming_it(command, model):
    empty = FOLDER / "empty-model"
    empty.mkdir(exist_ok=True)
    path = {"missing": FOLDER / "no-model", "csv instead": CSV, "empty folder": empty}[model]
    argv = (
        [command, str(path), "--steps", "3"]
        if command == "forecast"
        else [command, str(path), str(CSV)]
    )
    check(f"CLI {command} on a {model} model", argv, (str(path), path.name))
