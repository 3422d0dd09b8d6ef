"""The data contract: column intake, missing cells and decoding of every cell type."""

import numpy as np
import pandas as pd
import pytest

from skmm._column import CellError, column_cells, is_missing, report_cell_errors
from skmm.audio import decode_audio
from skmm.image import decode_image
from skmm.text import decode_text
from skmm.exceptions import InvalidInputError, MissingDependencyError

from _media import png_bytes


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["a", "b", None]),
        pd.DataFrame({"text": ["a", "b", None]}),
        ["a", "b", None],
        np.array(["a", "b", None], dtype=object),
        np.array(["a", "b", None], dtype=object)[:, None],
    ],
)
def test_column_intake_accepts_every_column_form(column):
    cells, labels = column_cells(column)
    assert cells[:2] == ["a", "b"] and is_missing(cells[2])
    assert labels is None


def test_column_intake_keeps_index_labels_and_rejects_two_columns():
    cells, labels = column_cells(pd.Series(["x"], index=["row-a"]))
    assert labels == ["row-a"]
    with pytest.raises(InvalidInputError, match="exactly 1 column"):
        column_cells(pd.DataFrame({"a": [1], "b": [2]}))
    with pytest.raises(InvalidInputError, match="Wrap it in a list"):
        column_cells("just a string")


def test_stack_of_arrays_is_a_column_of_cells():
    cells, _ = column_cells(np.zeros((3, 4, 5), dtype=np.uint8))
    assert len(cells) == 3 and cells[0].shape == (4, 5)


@pytest.mark.parametrize("cell", [None, float("nan"), np.float64("nan"), pd.NA, pd.NaT])
def test_missing_cells(cell):
    assert is_missing(cell)


@pytest.mark.parametrize("cell", ["", 0.0, np.zeros(3), b""])
def test_present_cells(cell):
    assert not is_missing(cell)


# ---------------------------------------------------------------- images


def test_decode_image_from_every_cell_type(media_files):
    from PIL import Image

    red = np.zeros((8, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    for cell in (media_files["red.png"], png_bytes(red), Image.fromarray(red), red, red / 255.0):
        out = decode_image(cell, mode="RGB")
        assert out.dtype == np.uint8 and out.shape == (8, 6, 3)
        np.testing.assert_array_equal(out, red)


def test_decode_image_modes_and_resize(media_files):
    grey = decode_image(media_files["red.png"], mode="L")
    assert grey.shape == (8, 6, 1)
    assert int(grey[0, 0, 0]) == round(255 * 0.299)
    rgb = decode_image(np.full((4, 4), 7, dtype=np.uint8), mode="RGB")
    assert rgb.shape == (4, 4, 3) and (rgb == 7).all()
    assert decode_image(media_files["red.png"], mode="RGB", size=(4, 3)).shape == (4, 3, 3)
    rgba = decode_image(media_files["rgba.png"], mode="RGB")
    assert rgba.shape == (5, 5, 3) and (rgba[..., 1] == 200).all()


@pytest.mark.parametrize(
    "name, cause",
    [
        ("missing.png", "not found"),
        ("dir", "directory"),
        ("empty.png", "empty"),
        ("truncated.png", "truncated|readable"),
    ],
)
def test_decode_image_bad_files(media_files, name, cause):
    with pytest.raises(CellError, match=cause):
        decode_image(media_files[name])


@pytest.mark.parametrize(
    "cell, cause",
    [
        (np.zeros((0, 4), dtype=np.uint8), "empty"),
        (np.full((2, 2), np.nan), "NaN"),
        (np.full((2, 2), 3.0), r"\[0, 1\]"),
        (np.zeros((2, 2, 5), dtype=np.uint8), "channels"),
        (12, "expected a path"),
        (b"", "empty bytes"),
        (b"not an image", "readable"),
    ],
)
def test_decode_image_bad_cells(cell, cause):
    with pytest.raises(CellError, match=cause):
        decode_image(cell)


def test_decode_image_refuses_decompression_bombs(tmp_path):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(path)
    with pytest.raises(CellError, match="max_pixels"):
        decode_image(str(path))


# ---------------------------------------------------------------- audio


def test_decode_audio_from_every_cell_type(media_files):
    from_path = decode_audio(media_files["tone.wav"], sr=16000)
    assert from_path.dtype == np.float32 and from_path.shape == (4000,)
    from_bytes = decode_audio(open(media_files["tone.wav"], "rb").read(), sr=16000)
    np.testing.assert_array_equal(from_path, from_bytes)
    stereo = decode_audio(media_files["stereo_8k.wav"], sr=16000)
    assert abs(len(stereo) - 4000) <= 2
    tone = np.sin(np.linspace(0, 100, 800)).astype(np.float32)
    np.testing.assert_array_equal(decode_audio(tone, sr=8000), tone)
    assert decode_audio((tone, 8000), sr=16000).shape == (1600,)
    assert decode_audio(np.stack([tone, tone]), sr=8000).shape == (800,)
    ints = decode_audio(np.array([0, 16384, -32768], dtype=np.int16), sr=8000)
    np.testing.assert_allclose(ints, [0.0, 0.5, -1.0])


@pytest.mark.parametrize(
    "name, cause",
    [
        ("truncated.wav", "readable"),
        ("text.wav", "readable"),
        ("empty.wav", "empty"),
        ("dir", "directory"),
    ],
)
def test_decode_audio_bad_files(media_files, name, cause):
    with pytest.raises(CellError, match=cause):
        decode_audio(media_files[name], sr=16000)


@pytest.mark.parametrize(
    "cell, cause",
    [
        (np.zeros(0, dtype=np.float32), "zero-length"),
        ((np.zeros(1, dtype=np.uint8), 48000), "shorter than one sample at 16000 Hz"),
        ((np.full(1, 1.9e37, dtype=np.float32), 1), "overflowed float32 .* peaks at 1.9e\\+37"),
        (np.array([0.0, np.nan]), "NaN"),
        (np.array([0.0, np.inf]), "NaN or inf"),
        ((np.zeros(10), -5), "positive"),
        ((np.zeros(10), 0.5), "positive number of Hz"),
        ((np.zeros(10), float("inf")), "positive number of Hz"),
        ((np.zeros(10),), "waveform, sample_rate"),
        ("/no/such/file.wav", "not found"),
        ({"a": 1}, "expected a path"),
        (np.zeros((2, 2, 2)), "1-D"),
    ],
)
def test_decode_audio_bad_cells(cell, cause):
    with pytest.raises(CellError, match=cause):
        decode_audio(cell, sr=16000)


# ---------------------------------------------------------------- text


def test_decode_text():
    assert decode_text("héllo") == "héllo"
    assert decode_text("caf\u00e9".encode()) == "café"
    with pytest.raises(CellError, match="UTF-8"):
        decode_text(b"\xff\xfe\xfa")
    with pytest.raises(CellError, match="expected a str"):
        decode_text(3)


# ---------------------------------------------------------------- errors


def test_report_lists_every_bad_row_with_index_and_path():
    errors = [(4, "/x/b.wav", "file not found"), (1, "/x/a.wav", "file not found")]
    with pytest.raises(InvalidInputError) as info:
        report_cell_errors(errors, "raise", "AudioThing", labels=None)
    message = str(info.value)
    assert "row 1" in message and "row 4" in message and "/x/a.wav" in message
    assert message.index("row 1") < message.index("row 4")
    assert info.value.rows == [1, 4]
    assert isinstance(info.value, ValueError)
    with pytest.warns(UserWarning, match=r"rows \[1, 4\]"):
        report_cell_errors(errors, "warn", "AudioThing")
    report_cell_errors(errors, "ignore", "AudioThing")


def test_missing_dependency_error_names_pip_command():
    from skmm._deps import import_optional

    with pytest.raises(MissingDependencyError, match=r"pip install 'skmm\[vision\]'") as info:
        import_optional("skmm_no_such_module", "vision")
    assert isinstance(info.value, ImportError)
