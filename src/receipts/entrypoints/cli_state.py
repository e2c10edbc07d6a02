"""What every command shares: the settings and the Runtime built from them on first use.

The root callback (cli.py) puts a `State` on the context and closes it on exit; a command
reads it with `ctx.ensure_object(State)`."""

from __future__ import annotations

from dataclasses import dataclass, field

from receipts.bootstrap import Runtime, bootstrap
from receipts.entrypoints.structured_logs import configure_logging
from receipts.settings import InvalidSettings, Settings


@dataclass
class State:
    settings: Settings
    _runtime: Runtime | None = field(default=None, repr=False)

    def override(self, **values: object) -> None:
        """Settings given on the command line (None or empty: not given); before runtime()."""
        given = {name: value for name, value in values.items() if value}
        self.settings = self.settings.model_copy(update=given)

    def use_log_level(self, level: str | None) -> None:
        """A command's --log-level (the seeds' names; trace is debug here), then logging
        is configured again."""
        if level:
            self.override(log_level="debug" if level == "trace" else level)
            configure_logging(self.settings)

    def use_table(self, table: str) -> None:
        """The seeds' scripts' TABLE argument: read the single table `table` (aws mode); a
        runtime already built on another table is closed, the next one reads `table`."""
        if self.settings.mode != "aws":
            raise InvalidSettings(
                f"TABLE {table!r} names a DynamoDB table, which needs aws mode"
                " (RECEIPTS_MODE=aws or --mode aws)"
            )
        self.close()
        self._runtime = None
        self.settings = self.settings.model_copy(update={"table": table})

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = bootstrap(self.settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
