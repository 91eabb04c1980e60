"""`summary()` keeps its columns when a layer's name and type do not fit the first column."""

import unrolled as keras


def _summary(model) -> list[str]:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).splitlines()


def test_a_long_name_wraps_its_type_onto_the_next_line_and_keeps_the_columns():
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            keras.Conv1D(4, 3),
            keras.GlobalAveragePooling1D(name="global_average_pooling1d"),
            keras.Dense(1, name="dense"),
        ]
    )
    lines = _summary(model)
    header = next(line for line in lines if line.startswith(" Layer (type)"))
    shape_column = header.index("Output Shape")
    row = next(i for i, line in enumerate(lines) if "global_average_pooling1d" in line)
    # Written by hand: the name fits the 32-character column, the type goes below it.
    assert lines[row] == " global_average_pooling1d".ljust(shape_column) + "(None, 4)".ljust(28) + (
        " " * 11 + "0"
    )
    assert lines[row + 1] == " (GlobalAveragePooling1D)"
    assert lines[row + 2].startswith(" dense (Dense)")


def test_a_name_longer_than_the_column_is_cut_with_an_ellipsis():
    model = keras.Sequential(
        [keras.Input((10, 3)), keras.Dense(2, name="a_dense_layer_whose_name_is_far_too_long")]
    )
    lines = _summary(model)
    row = next(i for i, line in enumerate(lines) if "a_dense_layer" in line)
    assert lines[row].startswith(" a_dense_layer_whose_name_is_far\u2026 (None, 10, 2)")
    assert lines[row + 1] == " (Dense)"
