"""This project's import-linter contract type (pyproject.toml [tool.importlinter]).

`forbidden_at_import` is import-linter's `forbidden`, counting only the imports that run when a
module is imported. An import inside a function body runs when the function is called: the CLI
imports torch, the simulators and Ray inside its commands so that `gato-eval --help` stays fast,
and plain `forbidden` (which sees every import statement) would flag exactly those. grimp's
`is_lazy` marks PEP 810 `lazy import` statements only, not function-level ones, so the function
bodies are found here from each module's syntax tree.

Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`: the graph gains those edges.

`nox -s lint` puts this folder on PYTHONPATH (`lint-imports` alone does not find the type).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

from grimp import ImportGraph
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.domain.contract import ContractCheck


class ForbiddenAtImportContract(ForbiddenContract):
    """`forbidden`, with imports made inside function bodies left out (see module docstring)."""

    type_name = "forbidden_at_import"

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        # import-linter hands each contract its own copy of the graph: editing it is safe.
        keep_import_time_edges(graph)
        return super().check(graph, verbose)


def keep_import_time_edges(graph: ImportGraph) -> None:
    """Remove imports that only run in function bodies; add each module -> its parent package."""
    internal = sorted(m for m in graph.modules if not graph.is_module_squashed(m))
    for importer in internal:
        deferred = function_level_lines(module_file(importer))
        if not deferred:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            if details and all(d["line_number"] in deferred for d in details):
                graph.remove_import(importer=importer, imported=imported)
    for module in internal:
        parent = module.rpartition(".")[0]
        if parent:
            graph.add_import(importer=module, imported=parent)


@cache
def root_dir(package: str) -> Path:
    """The folder of a root package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"cannot find package {package!r}")
    return Path(next(iter(spec.submodule_search_locations)))


def module_file(module: str) -> Path:
    root, *rest = module.split(".")
    path = root_dir(root).joinpath(*rest)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def function_level_lines(path: Path) -> frozenset[int]:
    """Line numbers of the import statements that sit inside a function or lambda body."""
    lines: set[int] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        if in_function and isinstance(node, ast.Import | ast.ImportFrom):
            lines.add(node.lineno)
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return frozenset(lines)
