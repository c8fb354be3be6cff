"""Lazy package attributes (PEP 562): a package names what it offers and imports each part on first use.

Why: ``import saliencykit`` and ``saliencykit --help`` must start at once, and OpenVINO, OpenCV, SciPy and torch
take seconds to import. A package's ``__init__`` calls :func:`attach` with the names it offers; ``dir()`` lists
them all, ``from package import name`` and ``package.name`` import the defining module then (and keep the value
as a plain attribute, so the next access costs nothing).

A function that shares its name with a submodule (``saliencykit.audit``, ``metrics.adcc``) stays the function
when the submodule is imported later, as it was when the package imported everything at once.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package whose attributes named in ``_lazy_attrs`` are not replaced by the submodule of the same name."""

    _lazy_attrs: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        # the import system sets ``package.<child>`` to a submodule it has just loaded; where the package offers a
        # function of that name instead (``saliencykit.audit``), the function stays
        if (
            isinstance(value, types.ModuleType)
            and name in self._lazy_attrs
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            return
        super().__setattr__(name, value)


def attach(
    package: str, attrs: Mapping[str, str] | None = None, submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, to assign in its ``__init__``.

    Args:
        package: the package's ``__name__``.
        attrs: public name -> module that defines it, relative to the package (``{"RISE": ".rise"}``).
        submodules: submodules offered as attributes (``sk.methods``), imported on first access.
    """
    attrs = dict(attrs or {})
    subs = frozenset(submodules)
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module._lazy_attrs = attrs  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:  # noqa: N807 (PEP 562 hook)
        if name in attrs:
            value = getattr(importlib.import_module(attrs[name], package), name)
        elif name in subs:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807 (PEP 562 hook)
        return sorted(set(module.__dict__) | set(attrs) | subs)

    return __getattr__, __dir__
