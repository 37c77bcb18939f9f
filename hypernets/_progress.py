"""The rich progress bar of long hypernetwork work (training, scoring, stand-alone runs)."""

from __future__ import annotations

from typing import Any


class TaskBar:
    """A rich progress bar over ``total`` steps, or nothing when ``enabled`` is false.

    ``transient`` bars vanish when done; ``info`` shows a line of text after the bar that
    :meth:`advance` updates (e.g. the latest losses).
    """

    def __init__(
        self, enabled: bool, total: int, description: str, *, transient: bool = True
    ) -> None:
        self.bar: Any = None
        if enabled:
            from rich.progress import Progress, TextColumn

            columns = (*Progress.get_default_columns(), TextColumn("{task.fields[info]}"))
            self.bar = Progress(*columns, transient=transient)
            self.bar.start()
            self.task = self.bar.add_task(description, total=total, info="")

    def advance(self, info: str | None = None) -> None:
        if self.bar is not None:
            fields = {} if info is None else {"info": info}
            self.bar.update(self.task, advance=1, **fields)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
