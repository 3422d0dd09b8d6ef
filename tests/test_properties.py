"""Property-based tests: random cells never give anything but a valid result or a CellError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skmm._column import CellError, column_cells, is_missing
from skmm.audio import decode_audio
from skmm.image import decode_image
from skmm.text import decode_text
from skmm.exceptions import InvalidInputError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_dtypes = st.sampled_from(
    [np.uint8, np.int16, np.int32, np.float32, np.float64, np.bool_, np.complex64]
)
_arrays = hnp.arrays(
    dtype=_dtypes,
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=12),
    elements=None,
)
_other_cells = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=64),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=3),
)


@pytest.mark.slow
@SETTINGS
@given(cell=st.one_of(_arrays, _other_cells))
def test_decode_image_gives_uint8_hwc_or_cell_error(cell):
    try:
        out = decode_image(cell, mode="RGB", size=(5, 4))
    except CellError:
        return
    assert out.dtype == np.uint8 and out.shape == (5, 4, 3)


@SETTINGS
@given(cell=st.one_of(_arrays, _other_cells, st.tuples(_arrays, st.integers(-5, 48000))))
def test_decode_audio_gives_finite_mono_float32_or_cell_error(cell):
    try:
        out = decode_audio(cell, sr=8000)
    except CellError:
        return
    assert out.dtype == np.float32 and out.ndim == 1 and out.size > 0
    assert np.isfinite(out).all()


@SETTINGS
@given(cell=st.one_of(st.text(), st.binary(max_size=32), _other_cells))
def test_decode_text_gives_str_or_cell_error(cell):
    try:
        out = decode_text(cell)
    except CellError:
        return
    assert isinstance(out, str)


@SETTINGS
@given(column=st.one_of(st.lists(_other_cells, max_size=8), _arrays, st.text(max_size=5)))
def test_column_intake_gives_cells_or_invalid_input(column):
    try:
        cells, labels = column_cells(column)
    except InvalidInputError:
        return
    assert isinstance(cells, list)
    for cell in cells:
        is_missing(cell)  # never raises


# ------------------------------------------------------------------ extractor entry points


def _fitted_extractors():
    from skmm._base import BaseExtractor

    from test_bad_inputs import modality_of
    from test_common import ESTIMATORS, make_estimator, sample_input

    fitted = []
    for name, cls in ESTIMATORS:
        if issubclass(cls, BaseExtractor):
            X, y = sample_input(cls, n=12)
            try:
                estimator = make_estimator(cls)
            except pytest.skip.Exception as skip:  # an optional extra it needs is absent
                fitted.append(pytest.param(None, None, id=name, marks=pytest.mark.skip(skip.msg)))
                continue
            fitted.append(pytest.param(estimator.fit(X, y), modality_of(cls), id=name))
    return fitted


_cells_by_modality = {
    "image": st.one_of(
        hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9)),
        _other_cells,
    ),
    "audio": st.one_of(
        hnp.arrays(np.float32, st.integers(0, 600), elements=st.floats(-1, 1, width=32)),
        st.tuples(hnp.arrays(np.float32, st.integers(1, 300), elements=st.floats(-1, 1, width=32)),
                  st.sampled_from([8000, 16000, 22050])),
        _other_cells,
    ),
    "text": st.one_of(st.text(max_size=40), _other_cells),
}


@pytest.mark.parametrize("extractor, modality", _fitted_extractors())
def test_extractors_give_valid_rows_or_invalid_input_error(extractor, modality):
    import copy

    ignoring = copy.deepcopy(extractor).set_params(on_error="ignore")

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(column=st.lists(_cells_by_modality[modality], min_size=1, max_size=5))
    def check(column):
        n_out = len(extractor.get_feature_names_out())
        try:
            out = extractor.transform(column)
        except InvalidInputError:
            out = None
        if out is not None:
            assert out.shape == (len(column), n_out) and out.dtype == np.float32
            assert np.isfinite(out).all()
        quiet = ignoring.transform(column)
        assert quiet.shape == (len(column), n_out) and np.isfinite(quiet).all()

    check()
