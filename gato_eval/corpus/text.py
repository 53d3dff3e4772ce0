"""The no-control text corpus: English prose built offline from what this machine already has.

Gato trained on text (MassiveText, Sec. 3.1) beside its control data; this project cannot
download a web corpus, so it builds one from three documented, reproducible sources:

- `stdlib`: docstrings of the Python standard library, read with `ast` (never imported), code
  examples and reST markup dropped, prose paragraphs kept. Reproducible from the Python version.
- `packages`: the READMEs (long descriptions) of the project's pinned dependencies.
  Reproducible from the pinned versions.
- `procedural`: sentences from a small grammar about objects, colours, places, counting and
  arithmetic (the vocabulary of captions and BabyAI missions; `gato_eval.corpus.procedural_text`).
  Reproducible from the seed alone.

Paragraphs are shuffled with a fixed seed and cut to a character budget. The result is cached
as gzipped JSON under `$GATO_EVAL_HOME/corpus/`; its digest (sha256 of the documents) and the
per-source counts go into every checkpoint's provenance, so a model records exactly which text
it saw even if another Python version would build a different corpus.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import json
import os
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import home_dir
from gato_eval.corpus.procedural_text import PROCEDURAL_VERSION, generate_procedural_paragraphs

CORPUS_FORMAT_VERSION = 1
TEXT_SOURCES = ("stdlib", "packages", "procedural")
DEFAULT_SOURCES = ("stdlib", "packages", "procedural")
# The project's pinned dependencies whose READMEs are prose (pyproject.toml). Fixed here, not
# discovered, so that a dev tool installed beside them cannot change the corpus.
PINNED_README_DISTRIBUTIONS = (
    "gymnasium",
    "ale-py",
    "mujoco",
    "dm-control",
    "metaworld",
    "minigrid",
    "minari",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "rich",
    "typer",
    "safetensors",
    "sentencepiece",
    "rliable",
    "torch",
)
# Standard-library folders that hold tests, tool sources or vendored code rather than prose.
_SKIPPED_STDLIB_PARTS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "turtledemo"}
_MIN_PARAGRAPH_WORDS = 8


@dataclass(frozen=True)
class TextCorpus:
    """A list of prose documents (one paragraph each) and where they came from.

    documents: tuple of str, in sampling order (already shuffled with the seed)
    sources:   source name -> {"documents": int, "characters": int, ...provenance}
    """

    documents: tuple[str, ...]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0

    @property
    def num_characters(self) -> int:
        return sum(len(doc) for doc in self.documents)

    def digest(self) -> str:
        """sha256 of the documents in order: the corpus's identity in provenance."""
        hasher = hashlib.sha256()
        for doc in self.documents:
            hasher.update(doc.encode("utf-8"))
            hasher.update(b"\0")
        return hasher.hexdigest()

    def provenance(self) -> dict[str, Any]:
        """What a checkpoint records about the text it was trained on."""
        return {
            "format_version": CORPUS_FORMAT_VERSION,
            "seed": self.seed,
            "documents": len(self.documents),
            "characters": self.num_characters,
            "sha256": self.digest(),
            "sources": self.sources,
        }


def build_text_corpus(
    max_characters: int = 3_000_000,
    seed: int = 0,
    sources: tuple[str, ...] = DEFAULT_SOURCES,
) -> TextCorpus:
    """Build the corpus from `sources`, shuffled with `seed`, cut to about `max_characters`.

    Each source gets an equal share of the budget; a source with less text gives its unused share
    to the others. Procedural text is unlimited, so it fills what the real prose leaves.
    """
    unknown = [name for name in sources if name not in TEXT_SOURCES]
    if unknown or not sources:
        raise GatoEvalError(f"unknown text sources {unknown}: choose from {list(TEXT_SOURCES)}")
    if max_characters < 1:
        raise GatoEvalError(f"max_characters must be >= 1, got {max_characters}")
    rng = np.random.default_rng(seed)
    procedural_budget = max_characters // len(sources) if "procedural" in sources else 0
    read = {name: _read_source(name) for name in sources if name != "procedural"}
    # Smallest source first, so the share it cannot fill passes on to the larger ones.
    finite = sorted(read, key=lambda name: sum(len(p) for p in read[name][0]))
    picked: dict[str, list[str]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    budget_left = max_characters - procedural_budget
    for position, name in enumerate(finite):
        paragraphs, info = read[name]
        order = rng.permutation(len(paragraphs))
        share = budget_left // (len(finite) - position)
        picked[name] = _take_until([paragraphs[i] for i in order], share)
        budget_left -= sum(len(p) for p in picked[name])
        provenance[name] = info
    if "procedural" in sources:
        budget_left += procedural_budget  # real prose first; generated text fills the rest
        picked["procedural"] = _take_until(
            generate_procedural_paragraphs(seed, budget_left), budget_left
        )
        provenance["procedural"] = {"generator_version": PROCEDURAL_VERSION, "seed": seed}
    documents = [doc for name in sources for doc in picked[name]]
    for name in sources:
        provenance[name].update(
            documents=len(picked[name]), characters=sum(len(d) for d in picked[name])
        )
    order = rng.permutation(len(documents))
    return TextCorpus(documents=tuple(documents[i] for i in order), sources=provenance, seed=seed)


def load_text_corpus(
    max_characters: int = 3_000_000,
    seed: int = 0,
    sources: tuple[str, ...] = DEFAULT_SOURCES,
    cache_dir: Path | None = None,
) -> TextCorpus:
    """The corpus of `build_text_corpus`, read from the cache or built once and cached.

    The cache key holds every argument and the Python version (the stdlib source changes with
    it). A corrupt cache file is rebuilt, not trusted.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else home_dir() / "corpus"
    key = json.dumps(
        [CORPUS_FORMAT_VERSION, max_characters, seed, list(sources), sys.version.split()[0]]
    )
    name = f"text-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json.gz"
    path = cache_dir / name
    if path.exists():
        corpus = _read_cache(path)
        if corpus is not None:
            return corpus
    corpus = build_text_corpus(max_characters=max_characters, seed=seed, sources=sources)
    _write_cache(path, corpus)
    return corpus


# --- real prose sources -------------------------------------------------------------------------


def _read_source(name: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    paragraphs, info = (
        read_stdlib_paragraphs() if name == "stdlib" else (read_package_readme_paragraphs())
    )
    return paragraphs, dict(info)  # a copy: the caller adds its counts


@functools.cache
def read_stdlib_paragraphs() -> tuple[tuple[str, ...], dict[str, Any]]:
    """Prose paragraphs of every docstring in the standard library's own source files.

    Files are parsed with `ast`, never imported (about 3 s; cached for the process).
    Returns (paragraphs in file order, provenance).
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        path
        for path in root.rglob("*.py")
        if not _SKIPPED_STDLIB_PARTS.intersection(path.relative_to(root).parts)
    )
    paragraphs: list[str] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue  # a few stdlib files are deliberately invalid or in other encodings
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                docstring = ast.get_docstring(node)
                if docstring:
                    paragraphs.extend(split_prose_paragraphs(docstring))
    info = {"python": sys.version.split()[0], "files": len(files), "root": "stdlib"}
    return tuple(paragraphs), info


@functools.cache
def read_package_readme_paragraphs() -> tuple[tuple[str, ...], dict[str, Any]]:
    """Prose paragraphs of the READMEs (package long descriptions) of the pinned dependencies."""
    from importlib import metadata

    paragraphs: list[str] = []
    versions: dict[str, str] = {}
    for dist_name in PINNED_README_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        versions[dist_name] = dist.version
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        paragraphs.extend(split_prose_paragraphs(str(body)))
    return tuple(paragraphs), {"distributions": versions}


_MARKUP = [
    (re.compile(r":[a-z:]+:`([^`]+)`"), r"\1"),  # :func:`x`
    (re.compile(r"`{1,2}([^`]+)`{1,2}(_)?"), r"\1"),  # `x`, ``x``, `link`_
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"https?://\S+"), ""),
    (re.compile(r"\*{1,3}(\w[^*]*\w)\*{1,3}"), r"\1"),  # *emphasis*, **bold**
    (re.compile(r"\s+"), " "),
]


def split_prose_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs of `text` that read as prose, markup removed.

    Dropped: code (doctest `>>>`, indented blocks, lines full of symbols), tables, headings, and
    paragraphs under eight words or under 70% letters and spaces.
    """
    kept: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines or any(
            line.lstrip().startswith((">>>", "...", "$ ", "|", "+-", "#", "```")) for line in lines
        ):
            continue
        if any(line.startswith(("    ", "\t")) for line in lines):
            continue  # indented: code, a literal block or a parameter table
        paragraph = " ".join(line.strip() for line in lines)
        for pattern, replacement in _MARKUP:
            paragraph = pattern.sub(replacement, paragraph)
        paragraph = paragraph.strip()
        if len(paragraph.split()) < _MIN_PARAGRAPH_WORDS or not paragraph.isascii():
            continue
        letters = sum(ch.isalpha() or ch == " " for ch in paragraph)
        if letters < 0.7 * len(paragraph) or paragraph.count("=") > 2:
            continue
        kept.append(paragraph)
    return kept


def _take_until(paragraphs, budget: int) -> list[str]:
    taken: list[str] = []
    used = 0
    for paragraph in paragraphs:
        if used + len(paragraph) > budget:
            break
        taken.append(paragraph)
        used += len(paragraph)
    return taken


# --- cache --------------------------------------------------------------------------------------


def _write_cache(path: Path, corpus: TextCorpus) -> None:
    payload = {
        "format_version": CORPUS_FORMAT_VERSION,
        "seed": corpus.seed,
        "sources": corpus.sources,
        "sha256": corpus.digest(),
        "documents": list(corpus.documents),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # the cache only saves time; a read-only home still trains


def _read_cache(path: Path) -> TextCorpus | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            payload = json.load(handle)
        corpus = TextCorpus(
            documents=tuple(payload["documents"]),
            sources=payload["sources"],
            seed=int(payload["seed"]),
        )
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        return None
    if payload.get("format_version") != CORPUS_FORMAT_VERSION:
        return None
    if corpus.digest() != payload.get("sha256"):
        return None
    return corpus
