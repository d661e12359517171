"""Option defaults read from the library: every ``nitrogen overlay`` option's default is its config field's.

Why: a default defined twice (in the config dataclass and in the click option) drifts; the commands read
it from the one place a Python caller gets it too.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any


def config_default(config: type[Any] | Callable[..., Any], name: str) -> Any:
    """The default of field ``name`` of the config dataclass ``config`` (or of parameter ``name`` of a function)."""
    if dataclasses.is_dataclass(config):
        field = next(f for f in dataclasses.fields(config) if f.name == name)
        return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return inspect.signature(config).parameters[name].default
