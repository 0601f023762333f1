"""gapcheck's Python checks: one module per rule or tight family, each registering its rules on import.

Shared facts (exception hierarchies, logging calls, library defaults) live in `common.py`, one table each.
"""
