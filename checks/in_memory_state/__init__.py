"""in-memory-state (GAP1xx): state kept in process memory by code that runs per request or per job."""
