"""Tests for pipeline.device: picking JAX's backend, and refusing one that is not there.

JAX's backend is chosen once per process, so every check that sets `jax_platforms` runs in
a subprocess of its own and reports back; in this process only `auto`, which sets nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from pipeline.device import (
    DeviceError,
    select_device,
    take_gpu_memory_as_needed,
    the_same_gpu_kernels_in_every_process,
    xla_flags,
)

ON_CPU_ONLY = all(d.platform == "cpu" for d in jax.devices())


def _in_subprocess(name: str) -> dict:
    """select_device(name) in a fresh Python: {"platform": ...} or {"error": type, "message": ...}."""
    code = textwrap.dedent(f"""
        import json
        from pipeline.device import DeviceError, select_device
        try:
            device = select_device({name!r})
            print(json.dumps({{"platform": device.platform}}))
        except DeviceError as error:
            print(json.dumps({{"error": type(error).__name__, "message": str(error)}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_auto_returns_a_device():
    device = select_device("auto")
    assert isinstance(device, jax.Device)
    assert device in jax.devices()


def test_cpu_returns_the_cpu():
    assert _in_subprocess("cpu") == {"platform": "cpu"}


@pytest.mark.skipif(not ON_CPU_ONLY, reason="this machine has an accelerator")
@pytest.mark.parametrize("name", ["gpu", "tpu"])
def test_missing_accelerator_is_refused_with_one_line(name):
    outcome = _in_subprocess(name)
    assert outcome.get("error") == "DeviceError", outcome
    message = outcome["message"]
    assert "\n" not in message
    assert f"device={name}" in message
    assert name in message.lower()
    assert "device=cpu" in message  # what to do instead


def test_asking_for_another_device_once_jax_runs_is_refused():
    """In a process whose JAX already runs on the CPU, asking for a GPU is an error, not a CPU run."""
    code = textwrap.dedent("""
        import json, jax
        jax.devices()  # JAX is up, on the CPU (JAX_PLATFORMS=cpu)
        from pipeline.device import DeviceError, select_device
        try:
            print(json.dumps({"platform": select_device("gpu").platform}))
        except DeviceError as error:
            print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    """)
    import os

    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome.get("error") == "DeviceError", outcome
    assert "device=gpu" in outcome["message"] and "\n" not in outcome["message"]


def test_device_error_is_a_runtime_error():
    assert issubclass(DeviceError, RuntimeError)


def test_the_compilation_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    from pipeline.device import compilation_cache_folder

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation_cache_folder() == tmp_path / "xdg" / "nn-fundamentals-pipeline" / "jax"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compilation_cache_folder() == tmp_path / "jax"


def test_an_unwritable_cache_folder_is_one_line_not_a_traceback(monkeypatch):
    from pipeline.device import enable_compilation_cache

    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/proc/no/such/cache")
    with pytest.raises(DeviceError) as info:
        enable_compilation_cache()
    assert "/proc/no/such/cache" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("user_set", "expected"),
    [
        ({}, "false"),  # nothing set: memory as needed
        ({"XLA_PYTHON_CLIENT_PREALLOCATE": "true"}, "true"),  # the user's own choice stays
        ({"XLA_PYTHON_CLIENT_MEM_FRACTION": ".5"}, None),  # a fraction means preallocating that much
    ],
)
def test_gpu_memory_is_taken_as_needed_unless_the_user_says_otherwise(monkeypatch, user_set, expected):
    for name in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in user_set.items():
        monkeypatch.setenv(name, value)
    take_gpu_memory_as_needed()
    assert os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == expected


@pytest.mark.parametrize(
    ("user_set", "expected"),
    [
        (None, "--xla_gpu_deterministic_ops=true"),
        ("--xla_dump_to=/tmp/x", "--xla_dump_to=/tmp/x --xla_gpu_deterministic_ops=true"),  # the user's kept
        ("--xla_gpu_deterministic_ops=false", "--xla_gpu_deterministic_ops=false"),  # the user's choice
    ],
)
def test_gpu_programs_are_compiled_to_the_same_kernels_unless_the_user_says_otherwise(monkeypatch, user_set, expected):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    if user_set:
        monkeypatch.setenv("XLA_FLAGS", user_set)
    the_same_gpu_kernels_in_every_process()
    assert os.environ["XLA_FLAGS"] == expected
    the_same_gpu_kernels_in_every_process()  # a second job in the process adds nothing
    assert os.environ["XLA_FLAGS"] == expected and xla_flags() == expected


def test_the_deterministic_flag_is_accepted_by_this_jaxlib_and_leaves_the_cpus_bits():
    """XLA stops the process on a flag it does not know; the CPU backend ignores this one."""
    code = "import jax; from pipeline.device import select_device; select_device('cpu'); import jax.numpy as jnp; "
    code += "x = jax.random.normal(jax.random.key(0), (64, 64)); print((x @ x).sum().item().hex())"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    outputs = []
    for flags in (None, "--xla_gpu_deterministic_ops=false"):
        run_env = {**env, **({"XLA_FLAGS": flags} if flags else {})}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=run_env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.split()[-1])
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(("user_set", "expected"), [(None, "highest"), ("bfloat16", "bfloat16")])
def test_float32_products_are_float32_unless_the_user_says_otherwise(user_set, expected):
    env = {k: v for k, v in os.environ.items() if k != "JAX_DEFAULT_MATMUL_PRECISION"}
    if user_set:
        env["JAX_DEFAULT_MATMUL_PRECISION"] = user_set
    code = "import jax; from pipeline.device import select_device; select_device('cpu'); "
    code += "print(jax.config.jax_default_matmul_precision)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == expected
