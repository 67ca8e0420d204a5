"""Which FHIR servers the service may contact: a request's `fhirServer` is fetched from only when an
allowlist entry names it (an exact base URL, or a prefix ending in `/`), with the scheme as listed
(so http only where an http URL is listed explicitly), and never when it carries user:password."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


class MalformedServer(ValueError):
    """A `fhirServer` that is not an http(s) URL: the request is a 400."""


def check_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host, else MalformedServer."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise MalformedServer(f"{url[:100]!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise MalformedServer(f"{url[:100]!r} is not an http(s) URL")
    return url


def _normal(url: str) -> str:
    """Scheme and host in lower case, the rest as written."""
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


class ServerAllowlist:
    """`entries` None allows any http(s) server (local use); an empty list allows none."""

    def __init__(self, entries: list[str] | None):
        self.entries = None if entries is None else [_normal(check_url(entry)) for entry in entries]

    def allows(self, url: str) -> bool:
        """Whether the service may contact the FHIR server at `url` (a checked http(s) URL)."""
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            return False
        if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
            return False
        if self.entries is None:
            return True
        wanted = _normal(url)
        return any(wanted.startswith(entry) or wanted + "/" == entry if entry.endswith("/")
                   else wanted.rstrip("/") == entry.rstrip("/") for entry in self.entries)


ANY_SERVER = ServerAllowlist(None)
