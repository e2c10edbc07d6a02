"""What the benchmarks say about the machine they ran on."""

from __future__ import annotations

from pathlib import Path


def cpu_pressure() -> str:
    """`some` avg10 and avg60 of /proc/pressure/cpu: the share of time runnable tasks waited
    for a CPU (above a few % another process competes, and times swing)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a (no /proc/pressure/cpu)"
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return f"{fields.get('avg10', '?')}% (avg60 {fields.get('avg60', '?')}%)"
