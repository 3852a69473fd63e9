"""Tests for pipeline.data: shapes, the course's flower to the bit, seeding, scaling, errors."""

import numpy as np
import pytest

from pipeline.data import DATASETS, Dataset, flower_arrays, load_dataset

BINARY = [n for n, t in DATASETS.items() if t == "binary"]
BUILT_IN = sorted(n for n in DATASETS if n != "csv")  # csv needs a user's file (tests at the end)


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
    assert set(DATASETS) == {
        "flower",
        "moons",
        "circles",
        "blobs",
        "gaussian_quantiles",
        "breast_cancer",
        "diabetes",
        "csv",
    }
    assert DATASETS["diabetes"] == "regression" and len(BINARY) == 6


@pytest.mark.parametrize("name", BUILT_IN)
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
    both = np.concatenate([np.vstack([ds.X_train, ds.Y_train]), np.vstack([ds.X_val, ds.Y_val])], axis=1)
    ref = np.vstack([X_ref, Y_ref.astype(np.float64)])
    key = lambda a: a[:, np.lexsort(a[::-1])]  # order columns canonically
    assert np.array_equal(key(both), key(ref))
    assert ds.m_train == 320


@pytest.mark.parametrize("name", BUILT_IN)
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


def test_unknown_name_is_one_line_naming_it_and_the_choices():
    with pytest.raises(ValueError) as err:
        load_dataset("iris")
    msg = str(err.value)
    assert "\n" not in msg and "'iris'" in msg
    assert all(n in msg for n in DATASETS)


@pytest.mark.parametrize("frac", [1.0, -0.1, 1.5])
def test_val_fraction_out_of_range(frac):
    with pytest.raises(ValueError) as err:
        load_dataset("moons", val_fraction=frac)
    msg = str(err.value)
    assert "\n" not in msg and repr(frac) in msg and "[0, 1)" in msg


def test_val_fraction_zero_trains_on_every_example():
    """The notes' setting: all 400 flower points train, the validation split is empty."""
    ds = load_dataset("flower", val_fraction=0)
    assert ds.m_train == 400 and ds.m_val == 0 and not ds.has_validation
    assert ds.X_val.shape == (2, 0) and ds.Y_val.shape == (1, 0)
    X, Y = flower_arrays()
    np.testing.assert_array_equal(ds.X_train, X)  # in the notes' own order
    np.testing.assert_array_equal(ds.Y_train, Y)
    regression = load_dataset("diabetes", val_fraction=0)
    assert regression.m_val == 0 and np.isfinite(regression.Y_train).all()


def test_a_split_that_leaves_no_validation_example_is_one_line():
    with pytest.raises(DataError) as err:
        load_dataset("moons", n_samples=4, val_fraction=0.1)
    msg = str(err.value)
    assert "\n" not in msg and "data.val_fraction=0.1" in msg and "4 examples" in msg


def test_a_training_split_of_one_class_is_refused():
    # blobs of 4 points, half held out: the seed below leaves one class in training.
    for seed in range(50):
        try:
            ds = load_dataset("gaussian_quantiles", n_samples=4, val_fraction=0.5, seed=seed)
        except DataError as error:
            assert "one class" in str(error) and "\n" not in str(error)
            return
        assert len(np.unique(ds.Y_train)) == 2
    pytest.fail("no seed left one class in training")


def test_a_generator_refusing_its_arguments_is_one_line():
    with pytest.raises(DataError) as err:
        load_dataset("moons", noise=-1.0)
    msg = str(err.value)
    assert "\n" not in msg and "data.noise=-1.0" in msg


def test_load_from_config_loads_each_data_config_once():
    from types import SimpleNamespace

    from pipeline.data import load_from_config

    data = SimpleNamespace(
        name="moons", seed=3, val_fraction=0.2, n_samples=50, noise=0.1, path=None, target=None, task="auto"
    )
    assert load_from_config(data) is load_from_config(SimpleNamespace(**vars(data)))


@pytest.mark.parametrize("frac, n", [(0.001, 400), (0.999, 400)])
def test_each_split_needs_an_example(frac, n):
    with pytest.raises(ValueError) as err:
        load_dataset("moons", val_fraction=frac, n_samples=n)
    assert "\n" not in str(err.value) and repr(frac) in str(err.value)


# -- data=csv: the user's own table ---------------------------------------------------------

import csv  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from pipeline.data import DataError, read_csv  # noqa: E402

HOUSES = Path(__file__).resolve().parents[1] / "examples" / "houses.csv"
HOUSE_FEATURES = ["area_m2", "bedrooms", "age_years", "distance_km"]


@pytest.fixture
def houses(tmp_path):
    """A copy of the shipped example table in a temporary folder."""
    path = tmp_path / "houses.csv"
    shutil.copy(HOUSES, path)
    return path


def _write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _table(header, rows):
    return "\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n"


def _binary_rows(n=20):
    """Two features and a 0/1 label y that alternates, so both classes are in every split."""
    return [(i, (i * 7) % 5, i % 2) for i in range(n)]


def _raw_columns(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: np.array([float(r[name]) for r in rows]) for name in rows[0]}


def test_read_csv_returns_the_features_in_order_and_the_target(houses):
    X, y, task = read_csv(str(houses), "price_k")
    raw = _raw_columns(houses)
    assert task == "regression"
    assert X.shape == (120, 4) and y.shape == (120,)
    np.testing.assert_array_equal(y, raw["price_k"])
    np.testing.assert_array_equal(X, np.column_stack([raw[c] for c in HOUSE_FEATURES]))


def test_example_table_loads_as_standardised_regression(houses):
    ds = load_dataset("csv", path=str(houses), target="price_k", seed=3)
    assert isinstance(ds, Dataset) and ds.name == "csv" and ds.task == "regression"
    assert ds.n_features == 4 and ds.m_train + ds.m_val == 120 and ds.m_val == 24
    for a in (ds.X_train, ds.Y_train, ds.X_val, ds.Y_val):
        assert a.dtype == np.float64 and a.flags.c_contiguous and np.isfinite(a).all()
        assert not a.flags.writeable
    # Features standardised with the TRAIN statistics: exact on train, close on validation.
    np.testing.assert_allclose(ds.X_train.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=1), 1.0, atol=1e-12)
    assert not np.allclose(ds.X_val.mean(axis=1), 0.0, atol=1e-12)
    assert np.abs(ds.X_val.mean(axis=1)).max() < 1.0
    # The target too; target_scale is the raw train std of price_k (prices in the hundreds).
    np.testing.assert_allclose(ds.Y_train.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.Y_train.std(), 1.0, atol=1e-12)
    assert ds.target_scale > 1
    price = _raw_columns(houses)["price_k"]
    assert 0.5 * price.std() < ds.target_scale < 2 * price.std()
    # Undoing the scaling gives back exactly the raw prices, split between train and val:
    # raw = Y * target_scale + mu, with mu the train mean, so sum(price) fixes mu.
    mu = (price.sum() - ds.target_scale * (ds.Y_train.sum() + ds.Y_val.sum())) / price.size
    both = np.concatenate([ds.Y_train.ravel(), ds.Y_val.ravel()]) * ds.target_scale + mu
    np.testing.assert_allclose(np.sort(both), np.sort(price), rtol=1e-12, atol=1e-9)


def test_zero_one_target_is_inferred_binary(tmp_path):
    path = _write(tmp_path, _table(["a", "b", "y"], _binary_rows()))
    assert read_csv(str(path), "y")[2] == "binary"
    ds = load_dataset("csv", path=str(path), target="y")
    assert ds.task == "binary" and ds.target_scale == 1.0 and ds.n_features == 2
    assert set(np.unique(np.concatenate([ds.Y_train.ravel(), ds.Y_val.ravel()]))) == {0.0, 1.0}
    # The features are still standardised (a user's table has arbitrary scales).
    np.testing.assert_allclose(ds.X_train.mean(axis=1), 0.0, atol=1e-12)


def test_zero_one_written_as_floats_is_binary(tmp_path):
    path = _write(tmp_path, _table(["a", "y"], [(i, f"{i % 2}.0") for i in range(10)]))
    assert read_csv(str(path), "y")[2] == "binary"


def test_task_regression_forces_regression_on_a_zero_one_target(tmp_path):
    path = _write(tmp_path, _table(["a", "b", "y"], _binary_rows()))
    ds = load_dataset("csv", path=str(path), target="y", task="regression")
    assert ds.task == "regression"
    np.testing.assert_allclose(ds.Y_train.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.Y_train.std(), 1.0, atol=1e-12)
    assert 0 < ds.target_scale <= 0.5  # the std of 0/1 labels
    assert len(np.unique(ds.Y_train)) == 2 and not set(np.unique(ds.Y_train)) <= {0.0, 1.0}


def test_task_binary_on_a_target_that_is_not_zero_one_is_refused(houses):
    with pytest.raises(DataError) as err:
        load_dataset("csv", path=str(houses), target="price_k", task="binary")
    msg = str(err.value)
    assert "\n" not in msg and "'price_k'" in msg and "0 and 1" in msg


def _expect_one_line(path, target="y", task="auto", *named):
    with pytest.raises(DataError) as err:
        load_dataset("csv", path=str(path), target=target, task=task)
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert msg and "\n" not in msg, msg
    for fragment in named:
        assert fragment in msg, (fragment, msg)
    return msg


ROW_3 = re.compile(r"\brow 3\b")  # the file's third line: header is row 1, first data row is row 2


def test_duplicate_column_names_are_refused(tmp_path):
    path = _write(tmp_path, "a,b,a,y\n1,2,3,0\n4,5,6,1\n7,8,9,0\n")
    _expect_one_line(path, "y", "auto", "duplicate column names", "'a'")


def test_a_table_whose_training_split_holds_one_class_is_refused(tmp_path):
    # Five rows, one of them the only 1: a split that holds it out trains on zeros alone.
    rows = [(i, i * 2, 1 if i == 0 else 0) for i in range(5)]
    path = _write(tmp_path, _table(["a", "b", "y"], rows))
    refused = 0
    for seed in range(20):
        try:
            load_dataset("csv", path=str(path), target="y", seed=seed, val_fraction=0.2)
        except DataError as error:
            assert "one class" in str(error) and "table.csv" in str(error)
            refused += 1
    assert refused > 0


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "houses.csv"
    _expect_one_line(missing, "price_k", "auto", str(missing), "no such file")


def test_missing_target_column_lists_the_columns(houses):
    msg = _expect_one_line(houses, "price", "auto", "'price'", "houses.csv", *HOUSE_FEATURES, "price_k")
    assert "not a column" in msg


@pytest.mark.parametrize("cell", ["cheap", "1,5", "12abc"])
def test_non_numeric_cell_names_column_and_row(tmp_path, cell):
    cell_text = f'"{cell}"' if "," in cell else cell
    path = _write(tmp_path, f"a,b,y\n1,2,0\n3,{cell_text},1\n5,6,0\n")
    msg = _expect_one_line(path, "y", "auto", "'b'", "not numeric", repr(cell))
    assert ROW_3.search(msg), msg


@pytest.mark.parametrize("cell", ["", "  ", "NaN", "nan", "NA", "null"])
def test_empty_or_nan_cell_names_column_and_row(tmp_path, cell):
    path = _write(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n5,6,0\n")
    msg = _expect_one_line(path, "y", "auto", "'b'", "table.csv")
    assert ROW_3.search(msg), msg
    assert "empty" in msg or "NaN" in msg


def test_empty_or_nan_target_cell_names_the_target_column(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4,NaN\n5,6,0\n")
    msg = _expect_one_line(path, "y", "auto", "'y'")
    assert ROW_3.search(msg), msg


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e999"])
def test_infinite_cell_names_column_and_row(tmp_path, cell):
    path = _write(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n5,6,0\n")
    msg = _expect_one_line(path, "y", "auto", "'b'", "non-finite")
    assert ROW_3.search(msg), msg


@pytest.mark.parametrize("text", ["a,b,y\n", "a,b,y", ""], ids=["header", "header-no-newline", "empty-file"])
def test_header_only_file_has_no_data_rows(tmp_path, text):
    path = _write(tmp_path, text)
    _expect_one_line(path, "y", "auto", "table.csv", "no data rows")


@pytest.mark.parametrize("task", ["auto", "binary"])
@pytest.mark.parametrize("label", [0, 1])
def test_single_class_binary_target_is_refused(tmp_path, task, label):
    path = _write(tmp_path, _table(["a", "b", "y"], [(i, i * 2, label) for i in range(10)]))
    _expect_one_line(path, "y", task, "'y'", "single class", f"all {label}")


def test_ragged_row_names_the_row(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4\n5,6,1\n")
    msg = _expect_one_line(path, "y", "auto", "table.csv", "2 cells", "header 3")
    assert ROW_3.search(msg), msg


def test_too_many_cells_is_ragged_too(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,0\n3,4,1,9\n5,6,1\n")
    msg = _expect_one_line(path, "y", "auto", "4 cells")
    assert ROW_3.search(msg), msg


def test_target_alone_without_features_is_refused(tmp_path):
    path = _write(tmp_path, _table(["y"], [(i,) for i in range(10)]))
    _expect_one_line(path, "y", "auto", "no feature column", "'y'")


def test_unknown_task_is_refused_naming_the_choices(houses):
    _expect_one_line(houses, "price_k", "multiclass", "'multiclass'", "auto", "binary", "regression")


def test_same_file_and_seed_same_hash_one_changed_cell_changes_it(tmp_path, houses):
    a = load_dataset("csv", path=str(houses), target="price_k", seed=0)
    b = load_dataset("csv", path=str(houses), target="price_k", seed=0)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    for x, y in zip((a.X_train, a.Y_train, a.X_val, a.Y_val), (b.X_train, b.Y_train, b.X_val, b.Y_val)):
        assert np.array_equal(x, y)
    # A copy elsewhere, same bytes: same data, same hash (the hash is of the data, not the path).
    copy = tmp_path / "copy" / "houses.csv"
    copy.parent.mkdir()
    shutil.copy(houses, copy)
    assert load_dataset("csv", path=str(copy), target="price_k", seed=0).sha256 == a.sha256
    # Another seed: another split.
    assert load_dataset("csv", path=str(houses), target="price_k", seed=1).sha256 != a.sha256
    # One cell changed (a feature, then the target): another hash.
    lines = houses.read_text().splitlines()
    cells = lines[5].split(",")
    for column in (0, 4):
        edited = list(cells)
        edited[column] = str(float(edited[column]) + 1)
        changed = _write(tmp_path, "\n".join([*lines[:5], ",".join(edited), *lines[6:]]) + "\n", f"edit{column}.csv")
        assert load_dataset("csv", path=str(changed), target="price_k", seed=0).sha256 != a.sha256, column


# -- Tables as people save them: no path, trailing blank line, byte-order mark, not UTF-8 --


def test_csv_without_path_is_a_one_line_data_error():
    with pytest.raises(DataError) as err:
        load_dataset("csv", target="y")
    assert "\n" not in str(err.value) and "data.path" in str(err.value)


def test_trailing_blank_line_is_ignored(tmp_path):
    path = _write(tmp_path, _table(["a", "b", "y"], _binary_rows()) + "\n")
    assert read_csv(str(path), "y")[0].shape == (20, 2)


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text(_table(["y", "a", "b"], [(i % 2, i, i * 3) for i in range(10)]), encoding="utf-8-sig")
    assert read_csv(str(path), "y")[2] == "binary"


def test_undecodable_file_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b,y\n1,2,0\n3,caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_csv(str(path), "y")
    assert "latin1.csv" in str(err.value)


def test_a_folder_as_data_path_is_named_a_folder(tmp_path):
    """It said "no such file" for a folder that is there."""
    (tmp_path / "tables").mkdir()
    _expect_one_line(tmp_path / "tables", "y", "auto", "is a folder", "not a table's file")


def test_a_relative_data_path_is_in_the_folder_the_command_started_in(tmp_path, monkeypatch):
    """hydra.job.chdir=true runs a job in its own folder; data.path=table.csv still names the
    table where the command was started (Hydra's to_absolute_path)."""
    from pipeline.data import COMMAND_DIR_VARIABLE, load_from_config

    _write(tmp_path, _table(["a", "b", "y"], _binary_rows()))
    job_folder = tmp_path / "outputs" / "job"
    job_folder.mkdir(parents=True)
    monkeypatch.setenv(COMMAND_DIR_VARIABLE, str(tmp_path))
    monkeypatch.chdir(job_folder)
    ds = load_dataset("csv", path="table.csv", target="y")
    assert ds.m_train + ds.m_val == 20
    data = dict(
        name="csv", seed=0, val_fraction=0.2, n_samples=400, noise=0.2, path="table.csv", target="y", task="auto"
    )
    assert load_from_config(type("Data", (), data)).sha256 == ds.sha256


@pytest.mark.parametrize("magnitude", [1e300, 1e-300])
def test_a_column_of_huge_or_tiny_values_is_standardised_exactly(tmp_path, magnitude):
    """1e300s: the variance overflowed, the std was inf and the column silently all 0 (the run
    FINISHED at chance); 1e-300s: it underflowed to 0, the column zeroed too."""
    rows = _binary_rows(40)
    path = _write(tmp_path, _table(["a", "b", "y"], [(a, repr(b * magnitude), y) for a, b, y in rows]))
    scaled = load_dataset("csv", path=str(path), target="y")
    plain = load_dataset("csv", path=str(_write(tmp_path, _table(["a", "b", "y"], rows), "plain.csv")), target="y")
    np.testing.assert_allclose(scaled.X_train, plain.X_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaled.X_val, plain.X_val, rtol=1e-12, atol=1e-12)


def test_a_validation_value_float32_cannot_hold_once_standardised_is_refused(tmp_path):
    """A 1e300 among values of about 1, held out for validation: 1e299 standard deviations away,
    beyond float32 (its inf would make the validation metrics NaN)."""
    from pipeline.data import _split

    rows = _binary_rows(40)
    held_out = next(seed for seed in range(50) if 0 in _split(40, seed, 0.2)[1])  # row 2 in validation
    rows[0] = (rows[0][0], "1e300", rows[0][2])
    path = _write(tmp_path, _table(["a", "b", "y"], rows))
    with pytest.raises(DataError) as err:
        load_dataset("csv", path=str(path), target="y", seed=held_out)
    message = str(err.value)
    assert "column 'b' of table.csv holds 1e+300 (row 2)" in message and "float32" in message, message
    assert "must lie in [" in message


def test_standardising_ordinary_columns_keeps_their_bits():
    """Only columns beyond 1e±100 are standardised in their own units: every other data set's
    bits (and so its sha256, its config hash, resume) stay as they were."""
    from pipeline.data import _standardise

    rng = np.random.default_rng(0)
    train, val = rng.normal(size=(50, 3)) * [1.0, 1e5, 1e-5], rng.normal(size=(10, 3))
    mean, std = train.mean(axis=0), train.std(axis=0)
    z_train, z_val, scale = _standardise(train, val)
    assert np.array_equal(z_train, (train - mean) / std) and np.array_equal(z_val, (val - mean) / std)
    assert np.array_equal(scale, std)
