"""A progress bar on the terminal for long runs (apply on a large tree, verify); nothing when
stderr is not a terminal (piped, CI logs) or with -q."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

MIN_FILES = 50  # a run over fewer files ends before a bar would help


def progress_bar(quiet: bool, label: str, min_total: int = MIN_FILES) -> Tuple[Optional[Callable[[int, int], None]], Optional[Progress]]:
    """(update(done, total), bar) or (None, None); call ``bar.stop()`` when done. The bar goes to
    stderr, so stdout (a report, a diff) stays clean."""
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(transient=True, console=Console(stderr=True))
    task: List[TaskID] = []  # the bar's one task, once started

    def update(done: int, total: int) -> None:
        if total < min_total:
            return
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], completed=done)

    return update, bar
