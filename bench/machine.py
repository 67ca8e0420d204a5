"""The machine and the code a benchmark ran on: printed above every result."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from cds import PROJECT_ROOT


def describe() -> dict[str, str | int | float]:
    """Date, CPU model, cores, Python version, git commit and the load average when the run started."""
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": _cpu_model(),
            "cores": os.cpu_count() or 0, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "commit": _commit(PROJECT_ROOT),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else commit
