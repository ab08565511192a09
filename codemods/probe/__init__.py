"""``verify``: run as a script by the user's own python, never imported by the rewriter."""
