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
# What the 'cuda' image holds that the project needs (its package list, read 2026-11-17).
DEVICE_HAS = frozenset(
    [
        "absl-py",
        "attrs",
        "certifi",
        "charset-normalizer",
        "click",
        "cloudpickle",
        "contourpy",
        "cycler",
        "etils",
        "filelock",
        "fonttools",
        "fsspec",
        "h5py",
        "idna",
        "imageio",
        "jinja2",
        "kiwisolver",
        "lxml",
        "markdown-it-py",
        "markupsafe",
        "matplotlib",
        "mdurl",
        "numpy",
        "packaging",
        "pandas",
        "patsy",
        "pillow",
        "protobuf",
        "pygments",
        "pyparsing",
        "python-dateutil",
        "requests",
        "rich",
        "safetensors",
        "scipy",
        "seaborn",
        "sentencepiece",
        "setuptools",
        "shellingham",
        "six",
        "statsmodels",
        "sympy",
        "torch",
        "tqdm",
        "typer",
        "typing-extensions",
        "urllib3",
        "wrapt",
        "zipp",
        "pytz",
        "tzdata",
    ]
)
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


def missing_requirements() -> list[str]:
    """gato-eval's direct requirements that are not installed here (names)."""
    from packaging.requirements import Requirement

    missing = []
    for line in metadata.distribution("gato-eval").requires or []:
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
    print(" ".join(missing_requirements()))
