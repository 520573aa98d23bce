"""The shape of the code: no import cycles, and the Django internals it copies checked."""

import django
import grimp

from janserver.http import handler

PACKAGES = (
    "janserver",
    "accounts",
    "orgs",
    "conversations",
    "inference",
    "limits",
    "usage",
    "tools",
)


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_itself_through_others():
    """Every import, function-level ones included: no cycle between modules.

    (lint-imports checks the package-level contracts in pyproject.toml.)
    """
    graph = grimp.build_graph(*PACKAGES)
    imports = {
        module: graph.find_modules_directly_imported_by(module)
        for module in graph.modules
    }
    assert _cycles(imports) == []


def test_the_cycle_finder_finds_cycles():
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(imports) == [["a", "b", "c"]]


def test_django_is_the_release_the_handler_was_checked_against():
    """janserver.http.handler copies ASGIHandler.handle() and reaches into
    HttpResponse._resource_closers: re-read both against a new Django release, then
    update CHECKED_AGAINST_DJANGO."""
    assert django.__version__ == handler.CHECKED_AGAINST_DJANGO
