"""Field masks: request masks and partial responses ("fields")."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any


class _MaskParser:
    """Parses "a.b,c/d,e(f,g(h))" into paths [("a","b"), ("c","d"), ("e","f"), ("e","g","h")]."""

    NAME = re.compile(r"[A-Za-z0-9_*@]+")

    def __init__(self, text: str) -> None:
        self.text = re.sub(r"\s+", "", text)
        self.pos = 0

    def parse(self) -> list[tuple[str, ...]]:
        if not self.text:
            raise ValueError("empty field mask")
        paths = self._list()
        if self.pos != len(self.text):
            raise ValueError(self.text)
        return paths

    def _list(self) -> list[tuple[str, ...]]:
        paths = self._item()
        while self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
            paths.extend(self._item())
        return paths

    def _item(self) -> list[tuple[str, ...]]:
        names = [self._name()]
        while self.pos < len(self.text) and self.text[self.pos] in "./":
            self.pos += 1
            names.append(self._name())
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            inner = self._list()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise ValueError(self.text)
            self.pos += 1
            return [tuple(names) + sub for sub in inner]
        return [tuple(names)]

    def _name(self) -> str:
        match = self.NAME.match(self.text, self.pos)
        if not match:
            raise ValueError(self.text)
        self.pos = match.end()
        return match.group(0)


def parse_field_mask(text: str) -> list[tuple[str, ...]]:
    """Field mask text -> list of key paths; ValueError when malformed."""
    return _MaskParser(text).parse()


def _mask_tree(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """Paths -> nested dict; a None leaf keeps the whole value below it."""
    tree: dict[str, Any] = {}
    for path in paths:
        node: dict[str, Any] | None = tree
        for depth, key in enumerate(path):
            if node is None:
                break
            if depth == len(path) - 1:
                node[key] = None
            else:
                child = node.get(key, {})
                if child is None:
                    break
                node[key] = child
                node = child
    return tree


def _select(value: Any, tree: dict[str, Any] | None) -> Any:
    """Partial response: keep only what ``tree`` names (lists are filtered element-wise)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [_select(item, tree) for item in value]
    if not isinstance(value, dict) or "*" in tree:
        return value
    out = {}
    for key, sub in tree.items():
        if key in value:
            if key == "rowData" and _leaf_cells(sub):
                out[key] = value[key]  # cells were already rendered with just these fields
            else:
                out[key] = _select(value[key], sub)
    return out


def _leaf_cells(tree: dict[str, Any] | None) -> bool:
    """rowData(values(a,b)) with plain leaves: grid rendering already applied that mask."""
    if tree is None:
        return True
    cells = tree.get("values", {}) if set(tree) == {"values"} else {}
    return cells is None or (bool(cells) and all(v is None for v in cells.values()))


_MISSING = object()


def _get_path(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _set_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            child = {}
            obj[key] = child
        obj = child
    obj[path[-1]] = value


def _del_path(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    trail = []
    for key in path[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            return
        trail.append((obj, key))
        obj = child
    obj.pop(path[-1], None)
    for parent, key in reversed(trail):
        if parent[key]:
            break
        del parent[key]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


