"""TC100: which torch APIs the target lacks (the table) and where a tree uses them (the scan)."""
