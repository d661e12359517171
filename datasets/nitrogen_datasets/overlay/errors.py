"""The overlay pipeline's error for a bad setting, shared by its config dataclasses.

Errors tied to one stage live beside the code that raises them (:class:`~.layout.InvalidLayout`,
:class:`~.localize.OverlayNotFound`, :class:`~.styles.UnknownStyle`, :class:`~.parser_weights.ParserNotFound`,
...); all derive from :class:`~nitrogen_datasets.errors.DatasetError`, so ``nitrogen overlay`` prints them as
one line and lets any other exception keep its traceback.
"""

from __future__ import annotations

from nitrogen_datasets.errors import DatasetError


class InvalidOverlayConfig(DatasetError, ValueError):
    """A config dataclass of the overlay pipeline got a value out of range; the message names field and value."""
