"""Every setting the platform declares (:mod:`contract.fields`), found by importing its modules."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, NamedTuple

from contract.fields import Setting, declared

PACKAGES = ("contract", "workers", "scheduler.autoscaler", "scheduler.beat")


class Declared(NamedTuple):
    owner: str
    """The dataclass (``WorkerSettings``) or module (``contract.priority``) that declares it."""
    attr: str | None
    """The dataclass field, None for a module constant."""
    setting: Setting[Any]


def all_declared() -> list[Declared]:
    """Each declaration once per owner; a shared setting appears under every dataclass using it."""
    out: list[Declared] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if isinstance(value, Setting) and not name.startswith("_"):
                    out.append(Declared(info.name, None, value))
                elif (
                    isinstance(value, type)
                    and dataclasses.is_dataclass(value)
                    and value.__module__ == info.name
                ):
                    out += [Declared(value.__qualname__, a, s) for a, s in declared(value).items()]
    return out


def unique_settings() -> list[Setting[Any]]:
    return list({id(d.setting): d.setting for d in all_declared()}.values())
