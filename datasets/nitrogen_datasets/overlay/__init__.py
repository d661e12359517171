"""Input-overlay pipeline: layout format, parametric styles, rendering onto gameplay video.

Extraction (localize + parse), the quality filter and masking build on these pieces.
"""

from nitrogen_datasets.overlay.layout import (
    ELEMENT_NAMES,
    LAYOUT_FORMAT,
    InvalidLayout,
    OverlayLayout,
    load_layout,
    parse_layout,
)
from nitrogen_datasets.overlay.render import OverlayRenderer
from nitrogen_datasets.overlay.styles import OverlayStyle, preset_styles, random_style

__all__ = [
    "ELEMENT_NAMES",
    "LAYOUT_FORMAT",
    "InvalidLayout",
    "OverlayLayout",
    "OverlayRenderer",
    "OverlayStyle",
    "load_layout",
    "parse_layout",
    "preset_styles",
    "random_style",
]
