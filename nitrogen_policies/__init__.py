"""NitroGen policies: the flow-matching action-chunk transformer, training and baselines (coming next)."""

__all__: list[str] = []
