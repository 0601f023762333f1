"""broad-except (GAP5xx): handlers that catch everything and hide the failure."""
