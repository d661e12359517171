"""Optional dependencies of the dataset code, each named with the pip extra that installs it.

Parquet (``pyarrow``), video (``av``) and the PyTorch reader (``torch``) are not needed to import
:mod:`nitrogen_datasets`, so a bare install stays light; they are imported where they are used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nitrogen_envs.errors import DependencyNotInstalled

# import name -> (pip requirement, extra of nitrogen-gym that installs it)
OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "pyarrow": ("pyarrow", "data"),
    "av": ("av", "data"),
    "torch": ("torch", "data"),
    "tqdm": ("tqdm", "data"),
    "imitation": ("imitation", "rl"),
}


def require_package(module: str) -> ModuleType:
    """Import an optional package or raise an error that says how to install it.

    Args:
        module: import name such as ``"pyarrow.parquet"``; its top-level name picks the extra.

    Raises:
        DependencyNotInstalled: the package is missing; the message holds the exact pip command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pip_name, extra = OPTIONAL_PACKAGES.get(module.split(".")[0], (module, "all"))
        raise DependencyNotInstalled(
            f"{module} is not installed ({err}). Install it with: "
            f"pip install 'nitrogen-gym[{extra}]'  (or: pip install {pip_name})"
        ) from err
