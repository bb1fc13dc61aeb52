"""Names a package loads on first use (PEP 562): importing the package costs nothing until then.

A package lists where each public name lives and makes the two functions :func:`lazy_exports`
returns its ``__getattr__`` and ``__dir__``::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

Lifecycle of a name: the first ``package.name`` (or ``from package import name``) misses the
package's globals, so Python calls ``__getattr__``, which imports the submodule, takes the name
from it and stores it in the package's globals; every later lookup finds it there and never
calls ``__getattr__`` again. A name the list does not hold is an :class:`AttributeError`, as
for any module.

It lives here, in a package whose own import is lazy, because ``flagship.sandbox`` uses it for
``flagship --help``, which must not pay for the contract's NumPy and pydantic.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public name ``n`` lives in its
    submodule ``exports[n]``; ``namespace`` is the package's ``globals()``."""

    def attribute(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def names() -> list[str]:
        return sorted({*namespace, *exports})

    return attribute, names
