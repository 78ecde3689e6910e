"""mlops_workshop.data: the bundled abalone data and the checks a user's own CSV must pass."""

import io

import pandas as pd
import pytest

from mlops_workshop import data

GOOD_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15"


def test_constants():
    assert data.RAW_COLUMNS == (
        "sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight",
        "rings",
    )
    assert data.FEATURES == (
        "sex_F", "sex_I", "sex_M", "length", "diameter", "height", "whole_weight", "shucked_weight",
        "viscera_weight", "shell_weight",
    )
    assert data.LABEL == "rings"


def test_load_raw_is_the_uci_abalone_data(raw_frame):
    assert raw_frame.shape == (data.EXPECTED_ROWS, 9) == (4177, 9)
    assert tuple(raw_frame.columns) == data.RAW_COLUMNS
    assert raw_frame.notna().all().all()
    assert raw_frame["sex"].value_counts().to_dict() == {"M": 1528, "I": 1342, "F": 1307}
    assert raw_frame["rings"].dtype == "int64"
    assert (raw_frame["rings"].min(), raw_frame["rings"].max()) == (1, 29)
    for name in data.SIZE_COLUMNS:
        assert raw_frame[name].dtype == "float64", name
        assert (raw_frame[name] >= 0).all(), name
    # The UCI file's first row, as published.
    assert raw_frame.iloc[0].tolist() == ["M", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15, 15]


def test_load_raw_returns_a_fresh_frame():
    first = data.load_raw()
    first.loc[0, "rings"] = 99
    assert data.load_raw().loc[0, "rings"] == 15


def test_write_raw_csv_into_a_folder_round_trips(tmp_path, raw_frame):
    written = data.write_raw_csv(tmp_path)
    assert written == tmp_path / "abalone.csv"
    lines = written.read_text().splitlines()
    assert len(lines) == 4177
    assert lines[0] == GOOD_ROW  # no header
    decimals = max(len(cell.split(".")[1]) for line in lines for cell in line.split(",")[1:-1] if "." in cell)
    assert decimals <= data.UCI_DECIMALS
    pd.testing.assert_frame_equal(data.read_raw_csv(written), raw_frame)


def test_write_raw_csv_to_a_named_file(tmp_path):
    small = data.read_raw_csv(io.StringIO(GOOD_ROW + "\n"))
    written = data.write_raw_csv(tmp_path / "sub" / "mine.csv", small)
    assert written.read_text() == GOOD_ROW + "\n"


def test_write_raw_csv_refuses_a_frame_missing_columns(tmp_path, raw_frame):
    with pytest.raises(data.DataValidationError, match="missing column rings"):
        data.write_raw_csv(tmp_path, raw_frame.drop(columns=["rings"]))
    assert not (tmp_path / "abalone.csv").exists()


@pytest.mark.parametrize("form", ["str", "path", "text", "bytes"])
def test_read_raw_csv_takes_paths_and_buffers(tmp_path, form):
    path = tmp_path / "abalone.csv"
    path.write_text(GOOD_ROW + "\nF,0.53,0.42,0.135,0.677,0.2565,0.1415,0.21,9\n")
    source = {
        "str": str(path),
        "path": path,
        "text": io.StringIO(path.read_text()),
        "bytes": io.BytesIO(path.read_bytes()),
    }[form]
    frame = data.read_raw_csv(source)
    assert frame["sex"].tolist() == ["M", "F"]
    assert frame["rings"].tolist() == [15, 9]
    assert frame["length"].tolist() == [0.455, 0.53]


def test_read_raw_csv_accepts_a_header_naming_the_columns_and_blank_lines():
    text = ",".join(data.RAW_COLUMNS) + "\n\n" + GOOD_ROW + "\n\n"
    assert len(data.read_raw_csv(io.StringIO(text))) == 1


def test_read_raw_csv_accepts_whole_number_rings_written_as_floats():
    frame = data.read_raw_csv(io.StringIO(GOOD_ROW[: -len("15")] + "15.0\n"))
    assert frame["rings"].tolist() == [15]
    assert frame["rings"].dtype == "int64"


def test_read_raw_csv_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv does not exist"):
        data.read_raw_csv(tmp_path / "nothere.csv")


def replace_cell(column, value, row=GOOD_ROW):
    cells = row.split(",")
    cells[data.RAW_COLUMNS.index(column)] = value
    return ",".join(cells)


BAD_FILES = {
    "empty": ("", "the file is empty"),
    "blank lines only": ("\n \n\n", "the file is empty"),
    "header only": (",".join(data.RAW_COLUMNS) + "\n", "the file is empty"),
    "too few columns": (GOOD_ROW + "\n" + GOOD_ROW.rsplit(",", 1)[0] + "\n", "row 2 has 8 columns, expected 9"),
    "too many columns": (GOOD_ROW + ",1\n", "row 1 has 10 columns, expected 9"),
    "text for a number": (GOOD_ROW + "\n" + replace_cell("diameter", "abc") + "\n", "row 2 column diameter: 'abc' is not a number"),
    "unknown sex": (replace_cell("sex", "X") + "\n", "row 1 column sex: unknown sex code 'X' (expected one of F, I, M)"),
    "lower-case sex": (replace_cell("sex", "m") + "\n", "row 1 column sex: unknown sex code 'm'"),
    "NaN": (replace_cell("height", "NaN") + "\n", "row 1 column height: value is NaN"),
    "infinity": (replace_cell("shell_weight", "inf") + "\n", "row 1 column shell_weight: value 'inf' is not finite"),
    "negative size": (replace_cell("length", "-0.2") + "\n", "row 1 column length: negative value -0.2"),
    "missing value": (replace_cell("whole_weight", "") + "\n", "row 1 column whole_weight: missing value"),
    "fractional rings": (replace_cell("rings", "7.5") + "\n", "row 1 column rings: '7.5' is not a whole number"),
    "negative rings": (replace_cell("rings", "-3") + "\n", "row 1 column rings: negative value -3"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_read_raw_csv_refuses_a_bad_file_naming_the_row_and_column(case):
    text, expected = BAD_FILES[case]
    with pytest.raises(data.DataValidationError) as caught:
        data.read_raw_csv(io.StringIO(text), source="mine.csv")
    message = str(caught.value)
    assert message.startswith("mine.csv does not match the abalone schema: ")
    assert expected in message
    assert expected in caught.value.problems[0]
    assert "sex, length, diameter, height, whole_weight, shucked_weight, viscera_weight, shell_weight, rings" in message
    assert isinstance(caught.value, ValueError)


def test_read_raw_csv_lists_every_problem_but_shows_a_few(tmp_path):
    rows = [replace_cell("sex", "Q")] * 8 + [GOOD_ROW]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(data.DataValidationError) as caught:
        data.read_raw_csv(path)
    assert len(caught.value.problems) == 8
    assert "row 8 column sex" in caught.value.problems[-1]
    assert str(caught.value).startswith(f"{path} does not match")
    assert "(and 3 more)" in str(caught.value)


def test_read_raw_csv_refuses_binary_content():
    with pytest.raises(data.DataValidationError, match="not UTF-8 text"):
        data.read_raw_csv(io.BytesIO(b"\xff\xfe\x00M,1,2"))
