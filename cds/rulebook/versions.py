"""Pack versions, their one home: how they are made, read back and matched by a filter.

A pack version is what the pack declares, a digest of what it says under the profile in force, and
the profile's name: `2026-11-30+3fa2c1d.uk`. When the declared version carries build metadata of its
own (`1.2+b7`), the digest joins it with a dot: `1.2+b7.3fa2c1d.uk`. Any change to the pack's
content or to a value the profile sets for it gives a new version; comments and layout do not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

DIGEST_LENGTH = 7


@dataclass(frozen=True)
class PackVersion:
    declared: str
    digest: str
    profile: str | None                  # None in versions stored before profiles existed

    def __str__(self) -> str:
        return f"{self.declared}{_joiner(self.declared)}{self.digest}" + (f".{self.profile}" if self.profile else "")


def pack_version(declared: str, content: Any, profile: str) -> PackVersion:
    """The version of a pack whose content (the pack's data with the profile's values for it) is `content`."""
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()
    return PackVersion(declared, hashlib.sha256(text).hexdigest()[:DIGEST_LENGTH], profile)


def parse(version: str) -> PackVersion | None:
    """A version string back into its parts (with or without a profile), or None when it is not one
    this service made."""
    head, _, profile = version.rpartition(".")
    for body, named in ((head, profile), (version, None)):
        for joiner in (".", "+"):
            declared, found, digest = body.rpartition(joiner)
            if found and declared and _digest(digest) and _joiner(declared) == joiner:
                return PackVersion(declared, digest, named)
    return None


def matches(version: str | None, wanted: str) -> bool:
    """Whether a stored pack version answers a filter: the full version, or what the pack declared
    (every content and profile of it)."""
    if version is None:
        return False
    parsed = parse(version)
    return version == wanted or (parsed is not None and parsed.declared == wanted)


def like_patterns(wanted: str) -> list[str]:
    """SQL LIKE patterns (backslash escapes) for every version of a declared version: its digest (any
    seven characters), with or without a profile. They narrow a query; `matches` has the last word."""
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stem = f"{escaped}{_joiner(wanted)}{'_' * DIGEST_LENGTH}"
    return [stem, f"{stem}.%"]


def _joiner(declared: str) -> str:
    return "." if "+" in declared else "+"


def _digest(text: str) -> bool:
    return len(text) == DIGEST_LENGTH and all(c in "0123456789abcdef" for c in text)
