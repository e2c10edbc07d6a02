"""What every command shares: the settings and the Runtime built from them on first use.

The root callback (cli.py) puts a `State` on the context and closes it on exit; a command
reads it with `ctx.ensure_object(State)`."""

from __future__ import annotations

from dataclasses import dataclass, field

from receipts.bootstrap import Runtime, bootstrap
from receipts.settings import Settings


@dataclass
class State:
    settings: Settings
    _runtime: Runtime | None = field(default=None, repr=False)

    def override(self, **values: object) -> None:
        """Settings given on the command line (None or empty: not given); before runtime()."""
        given = {name: value for name, value in values.items() if value}
        self.settings = self.settings.model_copy(update=given)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = bootstrap(self.settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
