"""Optional dependencies of the dataset code, each named with the pip extra that installs it.

Parquet (``pyarrow``), video (``av``) and the PyTorch reader (``torch``) are not needed to import
:mod:`nitrogen_datasets`, so a bare install stays light; they are imported where they are used.
``tqdm`` is not listed: it is a base dependency of nitrogen-gym (``pyproject.toml``), so no extra installs
it and no hint could name one (it used to point at ``data``, which does not install it).
"""

from __future__ import annotations

from types import ModuleType

from nitrogen_envs.import_utils import require_package as _require_package

# import name -> (pip requirement, extra of nitrogen-gym that installs it)
OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "pyarrow": ("pyarrow", "data"),
    "av": ("av", "data"),
    "torch": ("torch", "data"),
    "imitation": ("imitation", "imitation"),  # the classic stack, see docs/install.md
    "ray": ("ray", "scale"),
}


def require_package(module: str) -> ModuleType:
    """Import an optional package of the dataset code, or raise an error naming the extra to install."""
    return _require_package(module, OPTIONAL_PACKAGES)
