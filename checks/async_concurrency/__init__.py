"""async-concurrency (GAP9xx): work that stalls an event loop, races between requests, retried side effects."""
