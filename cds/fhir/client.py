"""Fetching prefetch data the EHR did not send from its FHIR server (requests, bounded)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from cds.fhir.allowlist import ANY_SERVER, ServerAllowlist
from cds.http_read import ReadBroken, ReadTooLarge, ReadTooSlow, read_within
from cds.metrics import FHIR_FETCHES

log = logging.getLogger(__name__)

MAX_SEARCH_BYTES = 10 * 1024 * 1024  # one search, all its pages: far above 1000 resources, far below memory trouble


NOT_ALLOWED = "the request's fhirServer is not an allowed FHIR server: it was not contacted"
SERVER_FAILED = "the FHIR server did not provide it (an error, no answer in time, or an unreadable answer)"
MAX_PUBLIC_REASON = 100
MAX_REDIRECTS = 3


class DataUnavailable(Exception):
    """Data a service needs could not be had: the service answers 412 naming `key`. `reason` is for
    the log; `public` (at most MAX_PUBLIC_REASON characters) is what the caller is told: one message
    for every failure of a server, so the answer never echoes what the server sent nor tells a
    refused connection from an HTTP error or a timeout."""

    def __init__(self, key: str, reason: str, public: str | None = None):
        self.key = key
        self.reason = reason
        self.public = (public or reason)[:MAX_PUBLIC_REASON]
        super().__init__(f"{key}: {reason}")


class FhirClient:
    """Searches one FHIR server with the EHR's bearer token, within a total time budget."""

    def __init__(self, base_url: str, access_token: str | None, budget_s: float,
                 connect_timeout_s: float, max_pages: int, max_resources: int,
                 session: requests.Session | None = None, max_bytes: int = MAX_SEARCH_BYTES,
                 allowlist: ServerAllowlist = ANY_SERVER):
        self.allowed = allowlist.allows(base_url)
        self.base_url = base_url.rstrip("/") + "/"
        self.deadline = time.monotonic() + budget_s
        self.connect_timeout_s = connect_timeout_s
        self.max_pages = max_pages
        self.max_resources = max_resources
        self.max_bytes = max_bytes
        self.bytes_left = max_bytes
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/fhir+json"}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    def fetch(self, key: str, query: str) -> dict[str, Any]:
        """A read (`Patient/1`) or a search, with every page's entries merged into one Bundle."""
        if not self.allowed:
            FHIR_FETCHES.labels(key, "not_allowed").inc()
            raise DataUnavailable(key, NOT_ALLOWED)
        url = urljoin(self.base_url, query)
        self.bytes_left = self.max_bytes
        document = self._get(key, url)
        if document.get("resourceType") != "Bundle":
            if "?" not in query and document.get("resourceType") == query.split("/")[0]:
                return document  # a plain read
            raise self._fail(key, f"FHIR server sent a {document.get('resourceType')!r}, not a Bundle")
        entries = self._entries(key, document)
        pages = 1
        for _ in range(self.max_pages - 1):
            next_url = _next_link(document)
            if not next_url or len(entries) >= self.max_resources:
                break
            document = self._get(key, self._page_url(key, next_url))
            if document.get("resourceType") != "Bundle":
                raise self._fail(key, "a result page is not a Bundle")
            entries.extend(self._entries(key, document))
            pages += 1
        if len(entries) > self.max_resources or _next_link(document):
            log.warning("FHIR search %s cut short after %d pages holding %d resources (caps: %d pages, %d resources)",
                        key, pages, len(entries), self.max_pages, self.max_resources)
        FHIR_FETCHES.labels(key, "ok").inc()
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries[: self.max_resources]}

    def _page_url(self, key: str, link: Any) -> str:
        """A next-page link, only on the FHIR server itself: the bearer token goes nowhere else."""
        if not isinstance(link, str):
            raise self._fail(key, "FHIR server sent a next link that is not a URL")
        return self._same_origin(key, urljoin(self.base_url, link), "a next link")

    def _same_origin(self, key: str, url: str, what: str) -> str:
        if urlsplit(url)[:2] != urlsplit(self.base_url)[:2]:
            raise self._fail(key, f"FHIR server sent {what} to another server")
        return url

    def _remaining(self, key: str) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._fail(key, "FHIR time budget exhausted")
        return remaining

    def _get(self, key: str, url: str) -> dict[str, Any]:
        try:
            with self._answer(key, url) as response:
                if not 200 <= response.status_code < 300:
                    raise self._fail(key, f"FHIR server answered HTTP {response.status_code}")
                body = self._read_body(key, response)
        except requests.Timeout:
            raise self._fail(key, "FHIR server timed out") from None
        except (requests.RequestException, OSError) as error:
            raise self._fail(key, f"FHIR server unreachable ({type(error).__name__})") from None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise self._fail(key, "FHIR server sent something that is not JSON") from None
        if not isinstance(document, dict):
            raise self._fail(key, "FHIR server sent something that is not a FHIR resource")
        return document

    def _answer(self, key: str, url: str) -> requests.Response:
        """The response to a GET of `url`, redirects followed only within the server's own origin."""
        for _ in range(MAX_REDIRECTS + 1):
            remaining = self._remaining(key)
            response = self.session.get(url, headers=self.headers, stream=True, allow_redirects=False,
                                        timeout=(min(self.connect_timeout_s, remaining), remaining))
            if not response.is_redirect:
                return response
            response.close()
            url = self._same_origin(key, urljoin(url, response.headers["Location"]), "a redirect")
        raise self._fail(key, f"FHIR server redirected more than {MAX_REDIRECTS} times")

    def _read_body(self, key: str, response: requests.Response) -> bytes:
        """The body, read as it arrives; given up when the budget runs out (however slow the drip)
        or the search has sent more than `max_bytes` (however fast)."""
        self._remaining(key)
        try:
            body = read_within(response, self.deadline, self.bytes_left)
        except ReadTooSlow:
            raise self._fail(key, "FHIR server timed out") from None
        except ReadTooLarge:
            raise self._too_large(key) from None
        except ReadBroken as error:
            raise self._fail(key, f"FHIR server sent a broken response ({error})") from None
        self.bytes_left -= len(body)
        return body

    def _too_large(self, key: str) -> DataUnavailable:
        return self._fail(key, f"FHIR server sent more than {self.max_bytes} bytes for one search")

    def _entries(self, key: str, bundle: dict[str, Any]) -> list[Any]:
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise self._fail(key, "FHIR server sent a Bundle whose entry is not a list")
        return entries

    @staticmethod
    def _fail(key: str, reason: str) -> DataUnavailable:
        FHIR_FETCHES.labels(key, "failed").inc()
        return DataUnavailable(key, reason, SERVER_FAILED)


def _next_link(bundle: dict[str, Any]) -> Any:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return link["url"]
    return None
