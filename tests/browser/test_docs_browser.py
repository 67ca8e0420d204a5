"""/docs renders offline in a real browser (Debian's chromium, headless, via Playwright): Swagger UI's
files come from the service itself, nothing from a CDN. The screenshot is kept in test-artifacts/."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Route, expect, sync_playwright

from cds.runtime import RuleRuntime
from tests.browser.test_console_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.jwt_helpers import Signer, file_issuer, jwt_settings
from tests.live import live_server


def test_docs_render_offline_with_every_operation_and_the_jwt_scheme(tmp_path, runtime: RuleRuntime):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)", pytrace=False)
    settings = jwt_settings(tmp_path, file_issuer(tmp_path, Signer.es384()))
    elsewhere: list[str] = []
    with live_server(settings, runtime) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()

        def only_the_service(route: Route) -> None:
            if route.request.url.startswith(base):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_service)
        page.goto(f"{base}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cobalt CDS", timeout=15_000)
        paths = page.request.get(f"{base}/openapi.json").json()["paths"]
        expect(page.locator(".opblock")).to_have_count(sum(map(len, paths.values())))   # every operation
        expect(page.locator("button.authorize")).to_be_visible()
        call = page.locator(".opblock-post", has_text="/cds-services/{service_id}").first
        call.click()
        expect(call.locator("select").first).to_contain_text("b12-order-sign")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=True)
        browser.close()
    assert elsewhere == []
