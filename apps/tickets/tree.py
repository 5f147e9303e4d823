"""The category tree: the one walk every app uses (filters, services, SLA matching and
validation). `descendants` is pure (the module imports no models, so pure modules of
other apps may use it); `category_tree` is one query (taxonomies are small)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def descendants(root_ids: Iterable[int], tree: Mapping) -> set[int]:
    """`root_ids` and every id below them in `tree` (parent id -> child ids)."""
    found: set[int] = set()
    stack = list(root_ids)
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(tree.get(current, ()))
    return found


def category_tree() -> dict[int | None, list[int]]:
    """parent id -> child ids, for the whole tree (one query)."""
    from .models import Category

    tree: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        tree.setdefault(parent_id, []).append(pk)
    return tree


def category_descendant_ids(root_ids: Iterable[int], *, tree: Mapping | None = None) -> set[int]:
    """`root_ids` and every category below them."""
    return descendants(root_ids, category_tree() if tree is None else tree)
