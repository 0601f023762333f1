"""sql-building (GAP7xx): SQL text assembled from values instead of passing them as parameters."""
