"""N+1: one query, HTTP request or LLM call per item of a loop."""
