"""The nets' size-dependent defaults: batch size, early stopping, schedule, fused step, and
the tabular block a TabularEncoder gives (numbers embedded periodically from 1,500 rows),
and a plain table of numbers read as one."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from skmm import TabularEncoder, make_modality_union
from skmm.nets import MLP, FusionNetClassifier, FusionNetRegressor
from skmm.nets._build import use_fused
from skmm.nets._data import LARGE_FIT_ROWS
from skmm.nets._embeddings import AUTO_MIN_ROWS, PeriodicEmbedding
from skmm.nets._module import MultimodalModule

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_a_small_fit_keeps_every_row_and_batches_of_128():
    X, y = _data(300)
    net = FusionNetClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert (net.batch_size_, net.early_stopping_) == (128, None)
    assert "valid_loss" not in net.history[-1]
    assert net.history[-1, "train_batch_count"] == 3  # 300 rows in batches of 128


def test_a_large_fit_holds_a_tenth_out_and_batches_of_512():
    X, y = _data(LARGE_FIT_ROWS)
    net = FusionNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert (net.batch_size_, net.early_stopping_) == (512, 5)
    assert "valid_loss" in net.history[-1]
    assert net.history[-1, "train_batch_count"] == int(np.ceil(0.9 * LARGE_FIT_ROWS / 512))
    given = FusionNetClassifier(max_epochs=1, batch_size=64, early_stopping=None,
                                random_state=0).fit(X, y)
    assert (given.batch_size_, given.early_stopping_) == (64, None)
    assert "valid_loss" not in given.history[-1]


def test_the_cosine_schedule_and_a_constant_rate():
    X, y = _data(200)
    cosine = FusionNetRegressor(max_epochs=4, random_state=0).fit(X, y.astype(float))
    rates = [row["event_lr"] for row in cosine.history]
    assert rates[0] == pytest.approx(2e-3) and all(np.diff(rates) < 0)
    assert cosine.optimizer_.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    constant = FusionNetRegressor(max_epochs=4, lr_schedule=None, random_state=0)
    constant.fit(X, y.astype(float))
    assert constant.optimizer_.param_groups[0]["lr"] == pytest.approx(2e-3)


def test_the_fused_step_where_torch_has_it_unless_the_user_chose():
    version = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    X, y = _data(100)
    net = FusionNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert bool(net.optimizer_.defaults.get("fused")) == (version >= (2, 4))
    chosen = FusionNetClassifier(max_epochs=1, optimizer__foreach=True, random_state=0)
    assert not chosen.fit(X, y).optimizer_.defaults.get("fused")
    assert not use_fused(torch.optim.SGD, "cpu", {})
    assert not use_fused(torch.optim.AdamW, "mps", {})


def test_a_table_of_numbers_alone_is_a_tabular_block_with_periodic_numbers():
    rng = np.random.default_rng(0)
    n = AUTO_MIN_ROWS
    table = pd.DataFrame({"rooms": rng.normal(size=n), "age": rng.normal(size=n)})
    y = (table["rooms"] > 0).astype(int).to_numpy()
    X = make_modality_union({"house": (TabularEncoder(), ["rooms", "age"])}).fit_transform(table)
    assert list(X.columns[:2]) == ["house__num:rooms", "house__num:age"]
    net = FusionNetClassifier(max_epochs=2, random_state=0).fit(X, y)
    (block,) = net.module_.layout
    assert (block.kind, block.shape) == ("tabular", (2, 0))
    assert isinstance(net.module_.branches[0].numbers, PeriodicEmbedding)
    assert net.n_fit_rows_ == n
    wide = FusionNetClassifier(max_epochs=1, random_state=0).fit(*_data(60, d=40))
    assert all(getattr(b, "numbers", None) is None for b in wide.module_.modules())


def test_a_small_table_embeds_no_numbers():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"rooms": rng.normal(size=120), "age": rng.normal(size=120)})
    y = (table["rooms"] > 0).astype(int).to_numpy()
    X = make_modality_union({"house": (TabularEncoder(), ["rooms", "age"])}).fit_transform(table)
    net = FusionNetClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert net.module_.layout[0].kind == "tabular" and net.n_fit_rows_ == 120
    assert net.module_.branches[0].numbers is None
    asked = FusionNetClassifier(max_epochs=2, random_state=0,
                                branches__numeric_embedding="periodic").fit(X, y)
    assert isinstance(asked.module_.branches[0].numbers, PeriodicEmbedding)


def test_a_plain_table_of_numbers_is_read_as_a_table_from_its_size():
    X, y = _data(AUTO_MIN_ROWS, d=8)
    net = FusionNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert isinstance(net.module_, MultimodalModule)
    assert [(b.kind, b.shape) for b in net.module_.layout] == [("tabular", (8, 0))]
    assert isinstance(net.module_.branches[0].numbers, PeriodicEmbedding)
    # a module built again without X (as unpickling or initialize() does) is the same
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(again.predict_proba(X[:50]), net.predict_proba(X[:50]),
                               rtol=1e-6)
    # the MLP over the row: a small fit, a wide row, or hidden sizes of the user's
    for kwargs, data in [({}, _data(AUTO_MIN_ROWS - 1, d=8)),
                         ({}, _data(AUTO_MIN_ROWS, d=40)),
                         ({"hidden_sizes": (64,)}, _data(AUTO_MIN_ROWS, d=8))]:
        plain = FusionNetClassifier(max_epochs=1, random_state=0, **kwargs).fit(*data)
        assert isinstance(plain.module_, MLP), kwargs


