"""Package names loaded on first use (PEP 562), so that importing a package
costs only what the caller uses: `meshsim report` does not pay for the
loader's Istio models, nor `import meshsim` for the runner.

Each lazy package keeps its names' types under `if TYPE_CHECKING:` (for
mypy and editors) and maps every public name to the module defining it:

    __getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any


def lazy_names(
    package: str, exports: dict[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__`: a name is imported from its
    module on first access, then kept in the package (the next access is a
    plain attribute)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
