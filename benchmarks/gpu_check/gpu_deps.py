"""The packages the GPU check needs on a lent GPU machine that cannot reach a package index.

That machine (the workplace's 'cuda' image, Python 3.12, its own CUDA torch) has torch, numpy,
scipy, pandas, matplotlib, safetensors, sentencepiece, typer, rich, h5py and pytest, but none
of the simulators. The choice made here: the project goes on as `pip install --no-deps -e .`
(its code, the image's torch), and what is missing travels as one archive of installed
packages, built on a machine with PyPI by `prepare_deps` and unpacked on the GPU machine onto
PYTHONPATH by `install_deps`.

The archive must fit the loan's 64 MiB working tree together with the repository (about 12
MiB), so it holds what the `default` suite and the recipe need and drops what they never read:
dm_control's locomotion assets and the dog model (82 + 20 MB), MuJoCo's and pygame's tests,
docs and examples, PyOpenGL's Windows DLLs, imageio-ffmpeg (videos only; the check records
none) and Meta-World's textures other than the five its `default` tasks load (seen with
strace: the scene and the Sawyer meshes use them; other Meta-World tasks need the rest).

Measured 2026-12-02: the archive is 29.0 MiB (115 MB unpacked); unpacked under Python 3.12.1
(no torch), all eight `default` tasks were made, reset and stepped, and one demonstration each
of metaworld-button-press-topdown, dmc-point-mass-easy, babyai-go-to-local and atari-breakout
was collected into Minari data sets. Packing took about 20 minutes on the shared 2-core machine
(xz): prepare it before the GPU session needs it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEVICE_PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64")
PLATFORMS += ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
# What the 'cuda' image holds (devices README, KINDS.md: its package list read 2026-11-17):
# carried copies of these would shadow the image's own, CUDA torch's included.
_DEVICE_PACKAGES = (
    "absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs "
    "botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy "
    "coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython "
    "diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic "
    "frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize "
    "hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin "
    "jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities "
    "linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl "
    "meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind "
    "narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti "
    "nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile "
    "nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py "
    "nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir "
    "onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix "
    "orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker "
    "prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments "
    "pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock "
    "pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich "
    "sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn "
    "sentencepiece sentence-transformers setuptools shellingham simplejson six "
    "sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server "
    "tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio "
    "torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton "
    "typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt "
    "xarray xxhash yarl zipp"
)
DEVICE_HAS = frozenset(_DEVICE_PACKAGES.split())
NOT_CARRIED = frozenset({"imageio-ffmpeg"})
PRUNED = (
    "dm_control/locomotion",
    "dm_control/suite/dog_assets",
    "dm_control/mujoco/testing",
    "pygame/docs",
    "pygame/examples",
    "pygame/tests",
    "OpenGL/DLLS",
)
METAWORLD_TEXTURES_KEPT = frozenset({"floor2.png", "metal.png", "metal1.png", "wood2.png"})
METAWORLD_TEXTURES_KEPT |= {"wood4.png"}
ARCHIVE = "site.tar.xz"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_on_device(root: str = "gato-eval") -> dict[str, str]:
    """{distribution: version} of gato-eval's requirements (recursively, as installed here)
    that the GPU machine's image lacks."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        if _normal(name) in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[_normal(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append((req.name, frozenset(req.extras)))
    skip = DEVICE_HAS | NOT_CARRIED | {_normal(root)}
    return {name: version for name, version in sorted(found.items()) if name not in skip}


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def prepare_deps(dest: Path, emit=print) -> Path:
    """Download, install (for the GPU machine's Python), prune and pack; returns the archive."""
    wanted = missing_on_device()
    emit(f"packages for the GPU machine: {', '.join(f'{n}=={v}' for n, v in wanted.items())}")
    target = ["--python-version", DEVICE_PYTHON, "--implementation", "cp", "--only-binary=:all:"]
    target += [item for platform in PLATFORMS for item in ("--platform", platform)]
    with tempfile.TemporaryDirectory() as work:
        wheels, site = Path(work) / "wheels", Path(work) / "site"
        for name, version in wanted.items():
            try:
                _pip("download", "--no-deps", *target, "-d", str(wheels), f"{name}=={version}")
            except subprocess.CalledProcessError:  # an sdist-only, pure-Python package
                _pip("wheel", "--no-deps", "-w", str(wheels), f"{name}=={version}")
        _pip("install", "--no-deps", "--no-compile", "--target", str(site), *target,
             *map(str, sorted(wheels.glob("*.whl"))))  # fmt: skip
        for part in PRUNED:
            shutil.rmtree(site / part, ignore_errors=True)
        for png in (site / "metaworld").rglob("*.png"):
            if png.parent.name != "textures" or png.name not in METAWORLD_TEXTURES_KEPT:
                png.unlink()
        dest.mkdir(parents=True, exist_ok=True)
        archive = dest / ARCHIVE
        with tarfile.open(archive, "w:xz") as tar:
            tar.add(site, arcname=".")
    emit(f"{archive}: {archive.stat().st_size / 2**20:.1f} MiB")
    return archive


def install_deps(deps: Path, target: Path) -> Path:
    """Unpack `deps`/site.tar.xz into `target` (put it on PYTHONPATH)."""
    with tarfile.open(Path(deps) / ARCHIVE) as tar:
        tar.extractall(target, filter="data")
    return target


def missing_requirements(pyproject: Path) -> list[str]:
    """The project's requirements (pyproject.toml's dependencies) not installed here (names).
    Read from the file, not the installed metadata: the project may run from its source."""
    import tomllib

    from packaging.requirements import Requirement

    missing = []
    for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if _normal(req.name) not in NOT_CARRIED:
                missing.append(req.name)
    return missing


if __name__ == "__main__":  # the check's setup: print what is still missing (nothing: all there)
    print(" ".join(missing_requirements(Path(__file__).resolve().parents[2] / "pyproject.toml")))
