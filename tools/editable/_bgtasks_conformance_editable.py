"""Editable install of bgtasks-conformance (``pip install -e .``): the import name mapped onto this checkout.

The wheel maps the checkout's folders into one package (``conformance/`` is ``bgtasks_conformance``,
``spec/`` is ``bgtasks_conformance.spec``, ...; pyproject.toml's ``sources``). An editable install puts
this folder on ``sys.path`` and imports this module from a ``.pth`` file; its finder resolves each
part to its folder in the checkout, and submodules are then found through the usual ``__path__``, so
a change in the checkout is live at once.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[2]


def _parts() -> dict[str, Path]:
    """``{import name: checkout folder}``, from the wheel's folder mapping in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        sources = tomllib.load(file)["tool"]["hatch"]["build"]["targets"]["wheel"]["sources"]
    return {target.replace("/", "."): ROOT / folder for folder, target in sources.items()}


class CheckoutFinder(importlib.machinery.PathFinder):
    """Finds ``bgtasks_conformance`` and its mapped parts in the checkout; nothing else."""

    parts: ClassVar[dict[str, Path]] = {}

    @classmethod
    def find_spec(cls, name, path=None, target=None):  # type: ignore[no-untyped-def]
        folder = cls.parts.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def install() -> None:
    if (ROOT / "pyproject.toml").is_file() and CheckoutFinder not in sys.meta_path:
        CheckoutFinder.parts = _parts()
        sys.meta_path.insert(0, CheckoutFinder)


install()
