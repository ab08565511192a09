"""Inputs LibCST may not print back byte for byte, and the error for them."""
from __future__ import annotations

import re

NOT_ROUND_TRIP = re.compile(r"[\f\v]|\r(?!\n)")


class LossyInput(Exception):
    """LibCST cannot reproduce this file byte for byte; rewriting it would lose bytes elsewhere."""


def may_lose_bytes(text: str) -> bool:
    """Inputs LibCST may not print back byte for byte (found by fuzzing): form feeds, vertical
    tabs, lone CRs, and indented blank or comment lines after the last statement. Those get a
    full reprint check; everything else round-trips."""
    if NOT_ROUND_TRIP.search(text):
        return True
    for line in reversed(text.splitlines()[-50:]):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return False  # reached the last statement
        if line[:1] in (" ", "\t"):
            return True
    return False


def check_round_trip(text: str, module) -> None:
    """Raise LossyInput when ``text`` is one LibCST may lose bytes of and ``module`` (its parse)
    prints back differently; the reprint is only paid for on such inputs."""
    if may_lose_bytes(text) and module.code != text:
        reprinted = module.code
        at = next((i for i, (a, b) in enumerate(zip(text, reprinted)) if a != b), min(len(text), len(reprinted)))
        raise LossyInput(f"LibCST cannot reproduce this file byte for byte (line {text.count(chr(10), 0, at) + 1}: "
                         "form feed, lone CR, or trailing indented lines); left unchanged")
