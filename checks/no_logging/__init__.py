"""no-logging (GAP6xx): failures handled without a log line, without the traceback, or printed to stdout."""
