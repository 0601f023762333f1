"""timeout-retry (GAP4xx): calls to other systems that can hang forever or give up on the first blip."""
