"""A job's config turned into program inputs: padding to blocks of 8 units, and initial states
drawn for many jobs at once that are each job's own, to the bit."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from models.network import forward
from pipeline import inputs
from pipeline.batching import dataset_of
from pipeline.config import register_configs
from pipeline.train import hidden_of

CONF = str(Path(__file__).resolve().parents[1] / "conf")


@pytest.fixture(scope="module")
def make_config():
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        yield lambda *overrides: compose("config", overrides=list(overrides))


@pytest.mark.parametrize("hidden, width", [(1, 8), (7, 8), (8, 8), (9, 16), (20, 24), (50, 56)])
def test_padded_width_is_the_next_block_of_eight(hidden, width):
    assert inputs.padded_width(hidden) == width


def test_padding_round_trips_and_pads_with_zeros(make_config):
    cfg = make_config("model=deep", "model.depth=3", "model.hidden=5")
    ds = dataset_of(cfg)
    ((params, _),) = inputs.initial_states([cfg], ds)
    sizes, padded_sizes = inputs.layer_sizes(cfg, ds), inputs.program_sizes(cfg, ds)
    assert sizes == (2, 5, 5, 5, 1) and padded_sizes == (2, 8, 8, 8, 1)
    padded = inputs.pad_params(params, padded_sizes)
    assert padded["W2"].shape == (8, 8) and not padded["W2"][5:].any() and not padded["W2"][:, 5:].any()
    back = inputs.unpad_params(padded, sizes)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_a_padded_network_computes_what_the_unpadded_one_does(make_config, activation):
    # Mathematically the same (exact zeros in the padding); in float64 equal to rounding.
    cfg = make_config(
        "model=deep",
        "model.depth=2",
        "model.hidden=3",
        f"model.activation={activation}",
        "model.init=xavier",
        "train.dtype=float64",
    )
    ds = dataset_of(cfg)
    with jax.enable_x64(True):
        ((params, _),) = inputs.initial_states([cfg], ds)
        spec, hyper = inputs.train_spec(cfg, ds), inputs.hyper_of(cfg, xp=jnp)
        padded = inputs.pad_params(params, inputs.program_sizes(cfg, ds))
        X = jnp.asarray(ds.X_train)
        own = forward({k: jnp.asarray(v) for k, v in params.items()}, X, activation, "sigmoid", 0.01)
        wide = forward(
            {k: jnp.asarray(v) for k, v in padded.items()}, X, hidden_of(spec, hyper), "sigmoid", hyper.slope
        )
    np.testing.assert_allclose(np.asarray(wide.A[-1]), np.asarray(own.A[-1]), rtol=1e-13, atol=1e-15)
    assert not np.asarray(wide.A[1])[3:].any()  # the padding units output exactly 0


@pytest.mark.parametrize("init", ["small", "xavier", "he"])
def test_initial_states_drawn_together_are_each_jobs_own(make_config, init):
    # Drawn beside other jobs, a job's initial parameters are the very bits it draws alone; and
    # they are the notes' initialisation (init_params' own draw: to the bit on JAX 0.10, to the
    # float32 rounding of the normal transform on later releases).
    configs = [
        make_config(f"model.hidden={h}", f"train.seed={seed}", f"model.init={init}", f"model.init_scale={scale}")
        for h, seed, scale in ((1, 0, 0.01), (4, 7, 0.5), (4, 2**32 - 1, 0.01), (8, 123456, 2.0))
    ]
    configs.append(make_config("model=deep", "model.depth=3", "model.hidden=6", "train.seed=3", f"model.init={init}"))
    ds = dataset_of(configs[0])
    for (params, key), cfg in zip(inputs.initial_states(configs, ds), configs):
        ((alone_params, alone_key),) = inputs.initial_states([cfg], ds)
        own_params, own_key = inputs.initial_state(cfg, inputs.layer_sizes(cfg, ds))
        np.testing.assert_array_equal(key, alone_key)
        np.testing.assert_array_equal(key, np.asarray(own_key))
        assert params.keys() == own_params.keys() == alone_params.keys()
        for name in params:
            np.testing.assert_array_equal(params[name], alone_params[name], err_msg=name)
            np.testing.assert_allclose(params[name], np.asarray(own_params[name]), rtol=1e-6, atol=0, err_msg=name)


def test_the_mask_marks_the_networks_own_units(make_config):
    hyper = inputs.hyper_of(make_config("model.hidden=3"))
    assert hyper.unit_mask.shape == (8, 1) and hyper.unit_mask[:, 0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert inputs.hyper_of(make_config("model=logistic")).unit_mask is None
