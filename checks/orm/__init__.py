"""Shared facts for the unbounded-query and n-plus-one families: what runs a query, an HTTP call, a per-item loop."""
