"""The tool's exit statuses: one set for every command."""

EXIT_CLEAN = 0  # nothing to do: clean, written, verified
EXIT_PENDING = 1  # work remains: pending rewrites (check, diff), unhandled sites, drift, verify failures
EXIT_ERROR = 2  # an error: bad arguments or paths, unreadable or unparsable files, nothing verified
EXIT_INCOMPLETE = 3  # verify only: no failure, but something was skipped for a missing package
