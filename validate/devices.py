"""What hardware and software a measurement ran on: GPU, CPU, threads, framework versions.

Nothing here imports TensorFlow: it asks TensorFlow only when a model already
imported it, and otherwise looks for NVIDIA's driver the way ``nvidia-smi`` does.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from validate.dist_metadata import version

# Frameworks whose version matters to a timing, reported when the process has loaded them.
_FRAMEWORKS = {
    "tensorflow": "tensorflow",
    "tf_keras": "tf-keras",
    "mlflow": "mlflow",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
}


def tensorflow_gpus() -> list[Any]:
    """TensorFlow's visible GPUs (imports TensorFlow; call it only for TensorFlow models)."""
    import tensorflow as tf

    return list(tf.config.list_physical_devices("GPU"))


def driver_gpus() -> list[str]:
    """Names of NVIDIA GPUs the driver exposes, without importing any framework."""
    names = [row["name"] for row in _nvidia_smi()]
    if names:
        return names
    folder = Path("/proc/driver/nvidia/gpus")
    if folder.is_dir():
        return [_proc_gpu_name(entry) for entry in sorted(folder.iterdir())]
    return []


def describe_environment(placement: str, gpu_index: int | None = None) -> dict[str, Any]:
    """The report's ``device`` block: where the timed calls ran, and on what."""
    report: dict[str, Any] = {
        "placement": placement,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": thread_settings(),
        "python": platform.python_version(),
        "frameworks": framework_versions(),
    }
    if gpu_index is not None:
        report["gpu"] = gpu_details(gpu_index)
    return report


def gpu_details(index: int) -> dict[str, Any]:
    """Model, compute capability, driver and CUDA/cuDNN builds of GPU ``index``."""
    details: dict[str, Any] = {"index": index}
    smi = _nvidia_smi()
    if index < len(smi):
        details.update(smi[index])
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if index < len(gpus):
            found = tf.config.experimental.get_device_details(gpus[index])
            details.setdefault("name", found.get("device_name"))
            if found.get("compute_capability"):
                details["compute_capability"] = ".".join(map(str, found["compute_capability"]))
        build = tf.sysconfig.get_build_info()
        details["cuda_build"] = build.get("cuda_version")
        details["cudnn_build"] = build.get("cudnn_version")
    if "torch" in sys.modules:
        import torch

        details["torch_cuda_build"] = torch.version.cuda
    if "driver" not in details:
        version = Path("/proc/driver/nvidia/version")
        if version.is_file():
            details["driver"] = version.read_text().splitlines()[0].strip()
    return details


def cpu_model() -> str:
    """The CPU's marketing name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_settings() -> dict[str, Any]:
    """Threads the timed calls could use: affinity, the usual environment knobs, and
    TensorFlow's pools (0 means TensorFlow's default, one per core)."""
    settings: dict[str, Any] = {}
    if hasattr(os, "sched_getaffinity"):
        settings["cpus_allowed"] = len(os.sched_getaffinity(0))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        if name in os.environ:
            settings[name] = os.environ[name]
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        settings["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        settings["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    if "torch" in sys.modules:
        import torch

        settings["torch_intra_op"] = torch.get_num_threads()
    return settings


def framework_versions() -> dict[str, str]:
    versions = {}
    for module, distribution in _FRAMEWORKS.items():
        if module in sys.modules:
            try:
                versions[distribution] = version(distribution)
            except metadata.PackageNotFoundError:
                continue
    return versions


def _nvidia_smi() -> list[dict[str, str]]:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        out = subprocess.run(
            [tool, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.strip().splitlines():
        name, driver, memory = (part.strip() for part in line.split(",", 2))
        rows.append({"name": name, "driver": driver, "memory": memory})
    return rows


def _proc_gpu_name(entry: Path) -> str:
    try:
        for line in (entry / "information").read_text().splitlines():
            if line.startswith("Model:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return entry.name
