"""Applies rules to one module's source: parsing, traversal, imports, suppressions."""
