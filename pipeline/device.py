"""`device=auto|cpu|gpu|tpu`: pick JAX's backend before JAX initialises it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax

# "Unable to initialize backend 'tpu'" on every CPU machine is not news for the user.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)

# JAX platform names for each choice; "gpu" covers CUDA and ROCm builds alike.
# "gpu" is CUDA: JAX's "gpu" alias also tries ROCm and fails where only CUDA is installed.
# The host CPU stays available beside the accelerator.
PLATFORMS = {"cpu": "cpu", "gpu": "cuda,cpu", "tpu": "tpu,cpu"}


class DeviceError(RuntimeError):
    """The asked-for device is not there; the message is one line for the user."""


def enable_compilation_cache() -> Path:
    """JAX's persistent compilation cache, so a second run of the same sweep skips compiling.

    JAX caches only programs that took over a second to compile by default; these programs
    take well under that, so the threshold is lowered to 0. The folder is $JAX_COMPILATION_CACHE_DIR
    if set, else ~/.cache/nn-fundamentals-pipeline/jax.
    """
    folder = compilation_cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # pipeline/admission.py checks it first; this is the same line, later
        raise DeviceError(
            f"JAX's compilation cache folder {folder} cannot be created ({error.strerror}); "
            "set JAX_COMPILATION_CACHE_DIR or XDG_CACHE_HOME to a writable folder"
        ) from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def compilation_cache_folder() -> Path:
    """$JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME (or ~/.cache)/nn-fundamentals-pipeline/jax."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nn-fundamentals-pipeline" / "jax"
    return Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or default)


def take_gpu_memory_as_needed() -> None:
    """Let JAX take GPU memory as its programs need it, not 75% of the GPU when it starts.

    JAX's default (XLA_PYTHON_CLIENT_PREALLOCATE=true) suits one big model per GPU. These
    networks need a few MB, and a sweep under the joblib or submitit launcher, or pytest-xdist,
    starts several processes on one GPU. On an H200 with the default, a joblib sweep with
    n_jobs=4 printed 106 CUDA out-of-memory lines and one of its 8 jobs FAILED
    (RESOURCE_EXHAUSTED); taking memory as needed, all 8 finished and none was printed.
    A user's own XLA_PYTHON_CLIENT_PREALLOCATE or XLA_PYTHON_CLIENT_MEM_FRACTION is left as it
    is. Read by JAX when it starts a GPU backend, so set before any is started.
    """
    if "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


DETERMINISTIC_GPU_FLAG = "--xla_gpu_deterministic_ops=true"


def the_same_gpu_kernels_in_every_process() -> None:
    """XLA compiles a program to the same GPU kernels in every process, so its bits are the
    same wherever the job runs.

    XLA:GPU autotunes: compiling a program, it times several kernels for each matrix product
    and keeps the fastest, and which one wins varies with timing noise from one process to the
    next. The kernels sum in different orders, so the last bits differ. On an H200 the same
    8-job grid, compiled in one process for the batched launcher and in another for the basic,
    recorded float64 losses one bit apart from step 150 on. `--xla_gpu_deterministic_ops=true`
    turns autotuning off and keeps only kernels that give the same bits on every run. A
    setting of the flag in the user's own XLA_FLAGS is left as it is. XLA reads XLA_FLAGS
    when JAX starts its first backend, so this is set before; the CPU ignores the flag.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_GPU_FLAG}".strip()


def xla_flags() -> str:
    """XLA_FLAGS as the process's backends read them, as recorded on every run."""
    return os.environ.get("XLA_FLAGS", "").strip() or "(none)"


def float32_products_in_float32() -> None:
    """Matrix products of float32 arrays are computed in float32 on every device.

    JAX's default precision lets XLA compute them in TF32 (a 10-bit mantissa) on NVIDIA GPUs
    since Ampere. On an H200 the network's forward pass was then up to 9e-3 apart from NumPy's
    float32, so `train.dtype=float32` would not be float32 there. (What float32 costs against
    TF32 on these small products is not measured yet.) On the CPU the bits are the same either
    way (checked on JAX 0.10 and 0.12). A precision the user chose (JAX_DEFAULT_MATMUL_PRECISION,
    or `jax.config.update` in their own code) is left as it is. Set before any program is
    traced: the precision is read when a program is lowered.
    """
    if _precision_set() is None:
        jax.config.update("jax_default_matmul_precision", "highest")


def matmul_precision() -> str:
    """JAX's precision for matrix products now, as recorded on every run ("default": XLA's choice)."""
    return str(_precision_set() or "default")


def _precision_set() -> str | None:
    """jax_default_matmul_precision as set (None: never set, XLA chooses)."""
    return getattr(jax.config, "jax_default_matmul_precision")  # JAX's typed stubs lack the attribute


def select_device(name: str) -> jax.Device:
    """Make `name` JAX's backend and return the device used.

    "auto" leaves JAX's own choice (an accelerator when one is present, else the CPU).
    Asking for an accelerator that is not there is an error, never a silent CPU run.
    Also switches on the persistent compilation cache, has GPU memory taken as needed, the
    same GPU kernels compiled in every process, and float32 products computed in float32.
    """
    enable_compilation_cache()
    take_gpu_memory_as_needed()
    the_same_gpu_kernels_in_every_process()
    float32_products_in_float32()
    if name == "auto":
        return jax.devices()[0]
    try:
        jax.config.update("jax_platforms", PLATFORMS[name])
    except RuntimeError:
        pass  # the backends are already up (an earlier job in this process): checked below
    backend = PLATFORMS[name].split(",")[0]
    try:
        device = jax.devices(backend)[0]
    except RuntimeError:  # with "cuda,cpu", a missing CUDA leaves JAX on the CPU: refuse that
        how = {
            "gpu": "for a GPU: an NVIDIA driver and `pip install -e .[gpu]`",
            "tpu": "TPUs are found on Cloud TPU machines, with `pip install jax[tpu]`",
        }[name]
        raise DeviceError(
            f"device={name} was asked for but JAX finds no {name.upper()} on this machine ({how}); "
            "use device=auto or device=cpu"
        ) from None
    if jax.default_backend() != ("gpu" if name == "gpu" else name):
        raise DeviceError(
            f"device={name} was asked for but JAX already runs on {jax.default_backend()} in this process; "
            "run jobs with different devices in separate commands"
        )
    return device
