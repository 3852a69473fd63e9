"""Tests for pipeline.data: shapes, the course's flower to the bit, seeding, scaling, errors."""

import numpy as np
import pytest

from pipeline.data import DATASETS, Dataset, dataset_summary, flower_arrays, load_dataset

BINARY = [n for n, t in DATASETS.items() if t == "binary"]


def _reference_flower():
    """The course's load_planar_dataset, verbatim (global seed; state restored after)."""
    saved = np.random.get_state()
    try:
        np.random.seed(1)
        m = 400
        N = int(m / 2)
        D = 2
        X = np.zeros((m, D))
        Y = np.zeros((m, 1), dtype="uint8")
        a = 4
        for j in range(2):
            ix = range(N * j, N * (j + 1))
            t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
            r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
            X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
            Y[ix] = j
        return X.T, Y.T
    finally:
        np.random.set_state(saved)


def test_names_and_tasks():
    assert set(DATASETS) == {"flower", "moons", "circles", "blobs", "gaussian_quantiles",
                             "breast_cancer", "diabetes"}
    assert DATASETS["diabetes"] == "regression" and len(BINARY) == 6


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_shapes_dtypes_layout(name):
    ds = load_dataset(name, seed=3, val_fraction=0.25)
    assert isinstance(ds, Dataset) and ds.name == name and ds.task == DATASETS[name]
    n_x, m_tr, m_va = ds.n_features, ds.m_train, ds.X_val.shape[1]
    assert ds.X_train.shape == (n_x, m_tr) and ds.Y_train.shape == (1, m_tr)
    assert ds.X_val.shape == (n_x, m_va) and ds.Y_val.shape == (1, m_va)
    m = m_tr + m_va
    assert m_va == round(0.25 * m)
    expected_n_x = {"breast_cancer": 30, "diabetes": 10}.get(name, 2)
    assert n_x == expected_n_x
    for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val):
        assert a.dtype == np.float64 and a.flags.c_contiguous and np.isfinite(a).all()
        assert not a.flags.writeable
    assert len(ds.sha256) == 64 and int(ds.sha256, 16) >= 0


def test_flower_matches_course_bit_for_bit():
    X, Y = flower_arrays()
    X_ref, Y_ref = _reference_flower()
    assert X.shape == (2, 400) and Y.shape == (1, 400)
    assert X.tobytes() == X_ref.tobytes() and Y.tobytes() == Y_ref.tobytes()
    assert Y.dtype == Y_ref.dtype


def test_flower_does_not_touch_global_rng():
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    flower_arrays()
    load_dataset("flower")
    assert np.array_equal(np.random.rand(3), expected)


def test_flower_split_is_a_permutation_of_the_course_data():
    ds = load_dataset("flower", seed=7, n_samples=50, noise=0.9)  # both ignored by flower
    X_ref, Y_ref = _reference_flower()
    both = np.concatenate([np.vstack([ds.X_train, ds.Y_train]),
                           np.vstack([ds.X_val, ds.Y_val])], axis=1)
    ref = np.vstack([X_ref, Y_ref.astype(np.float64)])
    key = lambda a: a[:, np.lexsort(a[::-1])]  # order columns canonically
    assert np.array_equal(key(both), key(ref))
    assert ds.m_train == 320


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_data_different_seed_different_split(name):
    a, b, c = load_dataset(name, seed=0), load_dataset(name, seed=0), load_dataset(name, seed=1)
    for x, y in zip((a.X_train, a.Y_train, a.X_val, a.Y_val), (b.X_train, b.Y_train, b.X_val, b.Y_val)):
        assert np.array_equal(x, y)
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256
    assert not np.array_equal(a.X_val, c.X_val)


def test_hash_changes_with_split_fraction_and_samples():
    base = load_dataset("moons")
    assert load_dataset("moons", val_fraction=0.3).sha256 != base.sha256
    assert load_dataset("moons", n_samples=200).sha256 != base.sha256
    assert load_dataset("moons", noise=0.1).sha256 != base.sha256
    assert load_dataset("moons", n_samples=200).m_train == 160


@pytest.mark.parametrize("name", BINARY)
def test_binary_labels_are_0_1_with_both_classes(name):
    ds = load_dataset(name)
    assert ds.target_scale == 1.0
    for Y in (ds.Y_train, ds.Y_val):
        assert set(np.unique(Y)) == {0.0, 1.0}


def test_generated_sets_are_not_standardised():
    # Plots need the data's own coordinates: the flower's petals reach about |4|.
    ds = load_dataset("flower")
    assert np.abs(ds.X_train).max() > 3


def test_breast_cancer_standardised_with_train_statistics():
    ds = load_dataset("breast_cancer", seed=2)
    np.testing.assert_allclose(ds.X_train.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=1), 1.0, atol=1e-12)
    # Validation uses the train statistics, so it is close to but not exactly standard.
    assert not np.allclose(ds.X_val.mean(axis=1), 0.0, atol=1e-12)
    assert np.abs(ds.X_val.mean(axis=1)).max() < 0.5


def test_diabetes_is_standardised_regression():
    ds = load_dataset("diabetes")
    assert ds.task == "regression" and ds.target_scale > 1
    np.testing.assert_allclose(ds.Y_train.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.Y_train.std(), 1.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=1), 1.0, atol=1e-12)
    # target_scale undoes the standardisation: the raw target is a disease score ~25..346.
    from sklearn.datasets import load_diabetes
    raw = load_diabetes().target
    assert 0.5 * raw.std() < ds.target_scale < 2 * raw.std()
    assert len(np.unique(ds.Y_train)) > 2


def test_summary_is_flat_and_loggable():
    ds = load_dataset("circles", seed=4)
    s = dataset_summary(ds)
    assert s == {"name": "circles", "task": "binary", "n_features": 2, "m_train": 320,
                 "m_val": 80, "sha256": ds.sha256, "target_scale": 1.0}
    assert all(isinstance(v, (str, int, float)) for v in s.values())


def test_unknown_name_is_one_line_naming_it_and_the_choices():
    with pytest.raises(ValueError) as err:
        load_dataset("iris")
    msg = str(err.value)
    assert "\n" not in msg and "'iris'" in msg
    assert all(n in msg for n in DATASETS)


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_val_fraction_out_of_range(frac):
    with pytest.raises(ValueError) as err:
        load_dataset("moons", val_fraction=frac)
    msg = str(err.value)
    assert "\n" not in msg and repr(frac) in msg and "(0, 1)" in msg


@pytest.mark.parametrize("frac, n", [(0.001, 400), (0.999, 400)])
def test_each_split_needs_an_example(frac, n):
    with pytest.raises(ValueError) as err:
        load_dataset("moons", val_fraction=frac, n_samples=n)
    assert "\n" not in str(err.value) and repr(frac) in str(err.value)
