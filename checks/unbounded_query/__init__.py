"""Unbounded queries: whole tables and collections loaded in request and job code, listings cut short."""
