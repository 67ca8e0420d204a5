"""The rules an edit is compared with: a directory, or the rules directory as a git revision has it."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BaseError(Exception):
    """A base that is neither a directory nor a revision of the repository holding the rules."""


@contextmanager
def base_rules(base: str, rules: Path) -> Iterator[Path]:
    """`base` itself when it is a directory; else the rules directory `rules` as the git revision `base` of
    its repository has it, extracted into a temporary directory for the block."""
    if Path(base).is_dir():
        yield Path(base)
        return
    rules = rules.resolve()
    top = _git(rules, "rev-parse", "--show-toplevel", what=f"{rules} is not in a git repository, and {base!r} is "
                                                            "not a directory").decode().strip()
    inside = rules.relative_to(Path(top).resolve()).as_posix()
    archive = _git(Path(top), "archive", "--format=tar", base, "--", inside,
                   what=f"{base!r} is neither a directory nor a git revision holding {inside}/ in {top}")
    with tempfile.TemporaryDirectory(prefix="cds-base-") as directory, tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
        yield Path(directory) / inside


def _git(where: Path, *arguments: str, what: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(where), *arguments], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BaseError(f"{what} (git: {error})") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise BaseError(f"{what} (git: {reason[0] if reason else done.returncode})")
    return done.stdout
