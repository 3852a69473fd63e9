"""Data sets for the pipeline: generated 2-D toys, two real sets shipped with scikit-learn.

Arrays follow the notes' convention: examples are COLUMNS, so features are X (n_x, m)
and targets Y (1, m). Nothing is downloaded at run time. Numpy and scikit-learn only,
so this module can be tested (and its output hashed) without JAX or MLflow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from functools import lru_cache

from pathlib import Path

import numpy as np

DATASETS: dict[str, str] = {
    "flower": "binary",
    "moons": "binary",
    "circles": "binary",
    "blobs": "binary",
    "gaussian_quantiles": "binary",
    "breast_cancer": "binary",
    "diabetes": "regression",
    "csv": "from the target column",  # the user's own table: data.path, data.target
}
TASKS = ("auto", "binary", "regression")

# Real data sets are standardised (features on wildly different scales); generated 2-D
# sets are not, so decision-boundary plots stay in the data's own coordinates.
_STANDARDISED = {"breast_cancer", "diabetes", "csv"}


# The folder `python -m pipeline` was started in (pipeline/__main__.py sets it for the command and
# the processes it starts): Hydra may run a job in its own folder (hydra.job.chdir=true), where
# a relative data.path or SQLite store would name another file than the user meant.
COMMAND_DIR_VARIABLE = "NN_PIPELINE_COMMAND_DIR"


def command_path(path: str | os.PathLike) -> Path:
    """A path the user wrote, relative to the folder the command was started in (as Hydra's
    `to_absolute_path`), whatever folder the job runs in; `~` is the home folder."""
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    return Path(os.environ.get(COMMAND_DIR_VARIABLE) or os.getcwd()) / given


class DataError(ValueError):
    """Data that cannot be trained on; the message is one line naming the file, column and row."""


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class Dataset:
    """A train/validation split. Arrays are float64, C-contiguous and read-only.

    X_train (n_x, m_train), Y_train (1, m_train), X_val (n_x, m_val), Y_val (1, m_val).
    With data.val_fraction=0 (the notes' setting: train on every example) m_val is 0: X_val
    is (n_x, 0) and Y_val (1, 0), so code that reads them need not special-case it, and
    `has_validation` is False. A binary training split always holds both classes.
    Y holds 0/1 labels for "binary"; for "regression" the target standardised with the
    train split's statistics, and `target_scale` (else 1.0) is the raw target's train
    std, so rmse_original = rmse_standardised * target_scale.
    """

    name: str
    task: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    target_scale: float
    sha256: str

    @property
    def n_features(self) -> int:
        return self.X_train.shape[0]

    @property
    def m_train(self) -> int:
        return self.X_train.shape[1]

    @property
    def m_val(self) -> int:
        return self.X_val.shape[1]

    @property
    def has_validation(self) -> bool:
        return self.m_val > 0


def flower_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The course's planar flower, bit for bit: X (2, 400), Y (1, 400) uint8 labels.

    A local RandomState(1) yields the same stream as the course's np.random.seed(1)
    without disturbing the global generator other code may rely on.
    """
    rng = np.random.RandomState(1)
    m, D, a = 400, 2, 4  # a: maximum ray of the flower
    N = m // 2  # points per class
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype="uint8")
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2  # theta
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def _raw(name: str, seed: int, n_samples: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set as X (m, n_x), y (m,) -- scikit-learn's rows-are-examples layout."""
    if name == "flower":
        X, Y = flower_arrays()
        return X.T, Y.ravel()
    from sklearn import datasets as skd  # here, not above: importing scikit-learn takes a second

    if name == "moons":
        return skd.make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    if name == "circles":
        # factor=0.5: inner radius half the outer, so noise=0.2 blurs but does not erase the gap.
        return skd.make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
    if name == "blobs":
        # Two centres drawn at random in the default box; cluster_std=1.5 (not 1.0) so the
        # clusters' tails meet for some seeds. `noise` is not used: make_blobs has none.
        return skd.make_blobs(n_samples=n_samples, centers=2, n_features=2, cluster_std=1.5, random_state=seed)
    if name == "gaussian_quantiles":
        # Label = inside/outside a chi-square quantile shell: not linearly separable.
        return skd.make_gaussian_quantiles(n_samples=n_samples, n_features=2, n_classes=2, random_state=seed)
    loader = skd.load_breast_cancer if name == "breast_cancer" else skd.load_diabetes
    return loader(return_X_y=True)


def _split(m: int, seed: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices from a seeded permutation of range(m).

    val_fraction=0: every example trains, in its own order, and the validation split is empty."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(
            f"data.val_fraction={val_fraction!r} is out of range; it must lie in [0, 1) (0: train on every example)"
        )
    if val_fraction == 0:
        return np.arange(m), np.arange(0)
    m_val = int(round(m * val_fraction))
    if not 1 <= m_val <= m - 1:
        raise DataError(
            f"data.val_fraction={val_fraction!r} with {m} examples leaves "
            f"{m_val} for validation and {m - m_val} for training; each split needs at least 1 "
            "(use more examples, another data.val_fraction, or data.val_fraction=0 for no validation)"
        )
    perm = np.random.default_rng(seed).permutation(m)
    return perm[m_val:], perm[:m_val]


# Columns whose largest magnitude lies outside this range are standardised in units of it: the
# squares in their variance would overflow (a column of 1e300s: its std inf, the column silently
# zeroed) or underflow (1e-200s: std 0, zeroed too). The others keep the plain computation's bits.
_PLAIN_MAGNITUDES = (1e-100, 1e100)
# The largest standardised value a job may meet. Training reads only the training split, whose
# values lie within sqrt(m - 1) standard deviations of its mean; a validation value can lie
# anywhere, and float32 must still hold its products with the weights and their squares (the
# squared error), about 3.4e38 at most: 1e15 leaves eight orders of magnitude for those.
MAX_STANDARDISED = 1e15


def _standardise(train: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale rows-are-examples arrays by the TRAIN statistics only (no leak from val); exact for
    any finite values (see _PLAIN_MAGNITUDES). Returns both, and each column's std."""
    magnitude = np.abs(train).max(axis=0) if len(train) else np.zeros(train.shape[1:])
    unit = np.where(
        (magnitude > 0) & ((magnitude < _PLAIN_MAGNITUDES[0]) | (magnitude > _PLAIN_MAGNITUDES[1])), magnitude, 1.0
    )
    train, val = train / unit, val / unit  # exact where the unit is 1
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant column stays 0 instead of NaN
    return (train - mean) / std, (val - mean) / std, std * unit


def _check_standardised(
    z_val: np.ndarray, raw_val: np.ndarray, val_rows: np.ndarray, names: list[str], std: np.ndarray, where: str
) -> None:
    """Refuse a validation value that lies too many training standard deviations from the training
    mean for float32 (MAX_STANDARDISED), naming its column, its row and the values allowed."""
    if not z_val.size or np.abs(z_val).max() <= MAX_STANDARDISED:
        return
    z = z_val.reshape(len(z_val), -1)
    example, column = np.unravel_index(np.argmax(np.abs(z)), z.shape)
    raw = raw_val.reshape(len(raw_val), -1)[example, column]
    spread = np.atleast_1d(std)[column]
    centre = raw - z[example, column] * spread  # the training mean, in the column's own units
    low, high = centre - MAX_STANDARDISED * spread, centre + MAX_STANDARDISED * spread
    raise DataError(
        f"column {names[column]!r} of {where} holds {raw:.6g} (row {int(val_rows[example]) + 2}), "
        f"{abs(z[example, column]):.3g} standard deviations of the training split from its mean; float32 training "
        f"needs values within {MAX_STANDARDISED:.0e} of them: this column's must lie in [{low:.6g}, {high:.6g}]"
    )


def _columns(a: np.ndarray) -> np.ndarray:
    """(m, k) or (m,) rows-are-examples -> read-only float64 C-contiguous (k, m)."""
    a = np.asarray(a, dtype=np.float64)
    columns = a.reshape(len(a), 1) if a.ndim == 1 else a.reshape(len(a), a.shape[1])  # (m, k); m may be 0
    out = np.ascontiguousarray(columns.T)
    out.setflags(write=False)  # shared by every job of a sweep and covered by the hash
    return out


def _digest(*arrays: np.ndarray) -> str:
    """sha256 over each array's shape and exact bytes, in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_csv(path: str | None, target: str | None, task: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """A user's table: numeric feature columns and one target column -> X (m, k), y (m,), task.

    The task is "binary" when the target holds only 0 and 1, else "regression", unless
    `task` says which. Every problem is a DataError naming the file, and the column and
    row where it can.
    """
    X, y, task, _ = read_table(path, target, task)
    return X, y, task


def read_table(
    path: str | None, target: str | None, task: str = "auto"
) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """`read_csv`, and the feature columns' names."""
    import csv

    if not path or not target:
        raise DataError("data=csv needs data.path (the table's file) and data.target (its label column)")
    file = command_path(path)
    if file.is_dir():
        raise DataError(f"data.path={path!r} is a folder ({file}), not a table's file; name a CSV file")
    if not file.is_file():
        raise DataError(f"data.path={path!r}: no such file (looked for {file})")
    try:  # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]  # no blank lines
    except UnicodeDecodeError as error:
        raise DataError(f"{file.name} is not UTF-8 text (byte {error.start}); save it as UTF-8 CSV") from None
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(
            f"{file.name} has duplicate column names: {', '.join(map(repr, duplicates))}; "
            "rename them so each column has its own name"
        )
    if not body:
        raise DataError(f"{file.name} has no data rows")
    if target not in header:
        raise DataError(f"data.target={target!r} is not a column of {file.name}; its columns: {', '.join(header)}")
    values = np.empty((len(body), len(header)))
    for row_number, row in enumerate(body, start=2):  # row 1 is the header
        if len(row) != len(header):
            raise DataError(f"{file.name} row {row_number} has {len(row)} cells, the header {len(header)}")
        for column, cell in enumerate(row):
            values[row_number - 2, column] = _number(cell, file.name, header[column], row_number)
    y = values[:, header.index(target)]
    X = np.delete(values, header.index(target), axis=1)
    if X.shape[1] == 0:
        raise DataError(f"{file.name} has no feature column besides the target {target!r}")
    names = [name for name in header if name != target]
    return X, y, _task_of(y, target, task), names


def _number(cell: str, file: str, column: str, row: int) -> float:
    text = cell.strip()
    if text == "" or text.lower() in ("nan", "na", "null"):
        raise DataError(f"{file} has an empty or NaN cell in column {column!r}, row {row}; fill or drop it first")
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"column {column!r} of {file} is not numeric (row {row}: {text!r}); only numeric features are supported"
        ) from None
    if not np.isfinite(value):
        raise DataError(f"{file} has a non-finite cell in column {column!r}, row {row}")
    return value


def _task_of(y: np.ndarray, target: str, task: str) -> str:
    if task not in TASKS:
        raise DataError(f"data.task={task!r} is not allowed; choose one of: {', '.join(TASKS)}")
    labels = set(np.unique(y).tolist())
    is_binary = labels <= {0.0, 1.0}
    if task == "auto":
        task = "binary" if is_binary else "regression"
    if task == "binary":
        if not is_binary:
            raise DataError(
                f"data.target={target!r} holds values other than 0 and 1; "
                "binary labels must be 0/1 (or set data.task=regression)"
            )
        if len(labels) < 2:
            raise DataError(
                f"data.target={target!r} has a single class (all {int(labels.pop())}); "
                "binary training needs both 0 and 1"
            )
    return task


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    n_samples: int = 400,
    noise: float = 0.2,
    path: str | None = None,
    target: str | None = None,
    task: str = "auto",
) -> Dataset:
    """Load `name` and split it with `seed`; see `Dataset` for shapes.

    `seed` drives both a generator's draw and the split. `n_samples` and `noise` apply to
    the generated sets only (`flower` is the fixed 400 points; `noise` where the
    generator has it). `name="csv"` reads the table at `path` with `target` as the label
    (see `read_csv`). Raises ValueError (DataError), one line, for anything unusable.
    """
    if name not in DATASETS:
        raise ValueError(f"data.name={name!r} is not a known dataset; choose one of: {', '.join(sorted(DATASETS))}")
    names: list[str] = []
    if name == "csv":
        X, y, task, names = read_table(path, target, task)
    else:
        try:
            X, y = _raw(name, seed, n_samples, noise)
        except ValueError as error:  # scikit-learn's own refusal of a generator's argument
            raise DataError(
                f"data={name} cannot be generated with data.n_samples={n_samples}, data.noise={noise}, "
                f"data.seed={seed}: {str(error).splitlines()[0]}"
            ) from None
        task = DATASETS[name]
    train, val = _split(len(y), seed, val_fraction)
    X_tr, X_va, y_tr, y_va = X[train], X[val], y[train].astype(np.float64), y[val].astype(np.float64)
    if task == "binary" and len(np.unique(y_tr)) < 2:
        if name == "csv":
            assert path is not None  # read_csv above refused a missing data.path
            where = f"{Path(path).name}'s"
        else:
            where = f"data={name}'s"
        raise DataError(
            f"the training split of {where} {len(y_tr)} examples holds one class only "
            f"(all {int(y_tr[0])}; data.val_fraction={val_fraction}, data.seed={seed}); "
            "binary training needs both 0 and 1: use more examples or another split"
        )
    target_scale = 1.0
    where = f"{Path(path).name}" if name == "csv" and path else f"data={name}"
    if name in _STANDARDISED:
        raw = X_va
        X_tr, X_va, std = _standardise(X_tr, X_va)
        _check_standardised(X_va, raw, val, names or [f"feature {i}" for i in range(X.shape[1])], std, where)
    if task == "regression":
        raw = y_va
        y_tr, y_va, std = _standardise(y_tr, y_va)
        _check_standardised(y_va, raw, val, [target or "target"], std, where)
        target_scale = float(std)  # finite: at most the largest |target| of the training split
    arrays = [_columns(a) for a in (X_tr, y_tr, X_va, y_va)]
    X_train, Y_train, X_val, Y_val = arrays
    return Dataset(name, task, X_train, Y_train, X_val, Y_val, target_scale=target_scale, sha256=_digest(*arrays))


def load_from_config(data) -> Dataset:
    """`load_dataset` for a config's `data` node (anything with its attributes).

    The jobs of a sweep mostly share their data: each distinct data config is loaded once per
    process (the arrays are read-only). A table's file is part of the key by its size and
    modification time, so an edited file is read again (and by its place: a relative path names
    another file from another starting folder)."""
    stamp = None
    if data.name == "csv" and data.path:
        file = command_path(data.path)
        try:
            info = os.stat(file)
            stamp = (str(file), info.st_size, info.st_mtime_ns)
        except OSError:
            pass  # read_csv says what is wrong with the path
    return _load_cached(
        data.name,
        data.seed,
        float(data.val_fraction),
        data.n_samples,
        float(data.noise),
        data.path,
        data.target,
        data.task,
        stamp,
    )


# 64: a sweep over 20 data seeds cycles through 20 data configs job after job; a smaller cache
# would miss on every job (about 2 ms each to generate and split the flower set again).
@lru_cache(maxsize=64)
def _load_cached(name, seed, val_fraction, n_samples, noise, path, target, task, stamp) -> Dataset:
    return load_dataset(
        name,
        seed=seed,
        val_fraction=val_fraction,
        n_samples=n_samples,
        noise=noise,
        path=path,
        target=target,
        task=task,
    )
