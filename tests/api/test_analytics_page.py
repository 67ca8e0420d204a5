"""The console pages through real HTTP, on reports made here: figures, escaping, empty periods, filters, auth."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from cds.analytics.figures import AnalyticsQuery, AnalyticsReport, DayCount, ReasonCount, RuleFigures
from cds.api import create_app, deps
from tests.jwt_helpers import PUBLIC_URL, Signer, assert_refused, claims, file_issuer, jwt_settings

TODAY = datetime.now(UTC).date()
MIX_UP = RuleFigures("units.mg-mcg-confusion", fired=5, patients=3, accepted=2, overridden=2, accept_rate=0.4,
                     override_rate=0.4, top_override_reasons=[ReasonCount("dose-intended", "Dose is intended", 2)],
                     median_seconds_to_feedback=150.0, firing_by_day=[DayCount(TODAY, 4), DayCount(TODAY, 1)])


class Report:
    """A report source that answers `rules` for any query and remembers the queries."""

    def __init__(self, *rules: RuleFigures):
        self.rules = list(rules)
        self.queries: list[AnalyticsQuery] = []

    def __call__(self, query: AnalyticsQuery) -> AnalyticsReport:
        self.queries.append(query)
        return AnalyticsReport(query, self.rules)


def console(settings, runtime, report: Report) -> TestClient:
    app = create_app(settings, runtime)
    app.dependency_overrides[deps.report_source] = lambda: report
    return TestClient(app)


class _Cells(HTMLParser):
    """Each `tr data-rule` row's cells by their data-col."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.rule: str | None = None
        self.column: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "tr" and named.get("data-rule"):
            self.rule = named["data-rule"]
            self.rows[self.rule] = {}
        elif tag == "td" and self.rule and named.get("data-col"):
            self.column = named["data-col"]
            self.rows[self.rule][self.column] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.column = None
        elif tag == "tr":
            self.rule = None

    def handle_data(self, data: str) -> None:
        if self.rule and self.column:
            self.rows[self.rule][self.column] += data


def table(html: str) -> dict[str, dict[str, str]]:
    """The rules table: rule id → column → text (whitespace collapsed)."""
    parser = _Cells()
    parser.feed(html)
    return {rule: {column: " ".join(text.split()) for column, text in cells.items()}
            for rule, cells in parser.rows.items()}


def test_the_rules_table_shows_each_rules_figures_and_every_quiet_rule_with_zeros(settings, runtime):
    response = console(settings, runtime, Report(MIX_UP)).get("/analytics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    rows = table(response.text)
    assert rows["units.mg-mcg-confusion"] == {"fired": "5", "patients": "3", "accept-rate": "40%",
                                              "override-rate": "40%", "top-reason": "Dose is intended (2)",
                                              "median": "2.5 min"}
    assert set(rows) == {rule.id for rule in runtime.current.rulebook.rules()}
    assert rows["route.cyanocobalamin-iv"] == {"fired": "0", "patients": "0", "accept-rate": "—",
                                               "override-rate": "—", "top-reason": "—", "median": "—"}
    assert list(rows)[0] == "units.mg-mcg-confusion"   # most fired first
    assert 'href="/analytics/rules/units.mg-mcg-confusion?' in response.text


def test_the_plots_are_inline_svg_with_titles_and_a_bar_per_day_with_cards(settings, runtime):
    html = console(settings, runtime, Report(MIX_UP)).get("/analytics").text
    firing = re.search(r'<svg class="chart firing".*?</svg>', html, re.S).group()
    assert 'role="img"' in firing and "<title>Cards fired per day, all rules</title>" in firing
    assert re.findall(r"<title>([^<]*card[^<]*)</title></rect>", firing) == [f"{TODAY.isoformat()}: 5 cards"]
    reasons = re.search(r'<svg class="chart reasons".*?</svg>', html, re.S).group()
    assert "<title>Override reasons for units.mg-mcg-confusion</title>" in reasons
    assert "Dose is intended: 2 overrides" in reasons


def test_the_pages_load_nothing_from_elsewhere(settings, runtime):
    client = console(settings, runtime, Report(MIX_UP))
    for path in ("/analytics", "/analytics/rules/units.mg-mcg-confusion"):
        html = client.get(path).text
        assert "<script" not in html
        assert re.findall(r'<link[^>]*href="([^"]*)"', html) == ["/analytics/static/console.css"]
        assert not re.findall(r'\ssrc="', html)
    stylesheet = client.get("/analytics/static/console.css")
    assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith("text/css")
    assert "url(" not in stylesheet.text and "@import" not in stylesheet.text


def test_text_from_the_card_log_is_escaped_in_the_table_and_the_plots(settings, runtime):
    hostile = RuleFigures('<script>alert("id")</script>', 1, 1, 0, 1, 0.0, 1.0,
                          [ReasonCount("x", "<img src=x onerror=alert(1)>", 1)], None, [DayCount(TODAY, 1)])
    html = console(settings, runtime, Report(hostile)).get("/analytics").text
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;id&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;: 1 override" in html
    assert "No longer in the rules in force" in html     # a rule id the rules in force do not know


def test_an_empty_period_lists_every_rule_with_zeros_and_says_so_in_the_plots(settings, runtime):
    html = console(settings, runtime, Report()).get("/analytics").text
    rows = table(html)
    assert len(rows) == len(runtime.current.rulebook.rules())
    assert {cells["fired"] for cells in rows.values()} == {"0"}
    assert "No cards fired in this period" in html and "No card was overridden in this period." in html
    assert '<rect class="bar"' not in html


def test_the_filters_reach_the_report_and_stay_in_the_links(settings, runtime):
    report = Report(MIX_UP)
    response = console(settings, runtime, report).get(
        "/analytics", params={"since": "2026-10-01", "until": "2026-10-31", "service": "b12-patient-view",
                              "pack_version": "2026-12-06"})
    assert report.queries == [AnalyticsQuery(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC),
                                             "b12-patient-view", "2026-12-06")]
    assert "since=2026-10-01&amp;until=2026-10-31&amp;service=b12-patient-view&amp;pack_version=2026-12-06" \
        in response.text
    rulebook = runtime.current.rulebook
    listed = set(table(response.text)) - {"units.mg-mcg-confusion"}
    assert listed == {rule.id for rule in rulebook.rules()
                      if "patient-view" in rule.hooks and rule.pack in rulebook.services["b12-patient-view"].packs}
    assert '<option value="b12-patient-view" selected>' in response.text


def test_blank_filters_mean_the_last_30_days_of_every_service_and_version(settings, runtime):
    report = Report()
    console(settings, runtime, report).get("/analytics", params={"since": "", "until": "", "service": "",
                                                                 "pack_version": ""})
    [query] = report.queries
    assert query.until - query.since == timedelta(days=30) and query.service is None and query.pack_version is None


@pytest.mark.parametrize(("params", "field"), [({"since": "yesterday"}, "since"), ({"until": "2026-02-30"}, "until"),
                                               ({"since": "2026-11-02", "until": "2026-11-01"}, "since")])
def test_a_bad_filter_is_a_400_page_naming_it_with_the_form_at_its_defaults(settings, runtime, params, field):
    report = Report()
    response = console(settings, runtime, report).get("/analytics", params=params)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "<h1>invalid analytics query</h1>" in response.text and f"<li><code>{field}</code>: " in response.text
    default = datetime.now(UTC).date()
    assert f'name="until" value="{default.isoformat()}"' in response.text and report.queries == []


def test_a_rule_page_shows_its_text_rationale_references_parameters_examples_and_figures(settings, runtime):
    client = console(settings, runtime, Report(MIX_UP))
    html = client.get("/analytics/rules/units.mg-mcg-confusion").text
    rule = runtime.current.rulebook.rule("units.mg-mcg-confusion")
    for text in (rule.title, "ISMP: mg/mcg confusion is a recognised cause", "ISMP list of error-prone abbreviations",
                 "https://www.ismp.org/recommendations/error-prone-abbreviations-list",
                 "likely mg/mcg mix-up (usual dose 1,000 mcg)", "Dose is intended and checked",
                 "fhir_fixtures/requests/unit-error-1000mg.json", "order-sign", "units.yaml:"):
        assert text in html, text
    assert re.search(r"<code>\$mg_mcg_confusion_above_mcg</code></th><td class=\"num\">5000</td>", html)
    assert re.search(r'data-figure="fired">5<', html) and re.search(r'data-figure="override-rate">40%<', html)
    assert re.search(r'data-figure="median">2.5 min<', html)


def test_a_rule_without_cards_gets_its_page_with_zeros(settings, runtime):
    html = console(settings, runtime, Report(MIX_UP)).get("/analytics/rules/route.cyanocobalamin-iv").text
    assert re.search(r'data-figure="fired">0<', html) and re.search(r'data-figure="accept-rate">—<', html)
    assert "No cards fired in this period" in html and "No overrides in this period" in html


def test_an_unknown_rule_is_a_404_page(settings, runtime):
    response = console(settings, runtime, Report()).get("/analytics/rules/no.such-rule")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "<h1>unknown rule &#39;no.such-rule&#39;</h1>" in response.text
    assert "<li><code>rule_id</code>: not in the rules in force</li>" in response.text


def test_a_card_log_that_cannot_be_read_is_a_503_page(settings, runtime):
    def unavailable(query: AnalyticsQuery) -> AnalyticsReport:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    app = create_app(settings, runtime)
    app.dependency_overrides[deps.report_source] = lambda: unavailable
    response = TestClient(app).get("/analytics")
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert "<h1>card log unavailable: please retry</h1>" in response.text


def test_with_auth_on_the_console_needs_a_token_for_the_analytics_audience(tmp_path, runtime):
    signer = Signer.es384()
    client = console(jwt_settings(tmp_path, file_issuer(tmp_path, signer)), runtime, Report(MIX_UP))
    assert_refused(client.get("/analytics"), challenge="Bearer")
    assert_refused(client.get("/analytics/rules/units.mg-mcg-confusion"), challenge="Bearer")
    service_token = signer.token(claims())    # aud: a service's URL, not the console's
    assert_refused(client.get("/analytics", headers={"Authorization": f"Bearer {service_token}"}))
    for path in ("/analytics", "/analytics/rules/units.mg-mcg-confusion"):
        token = signer.token(claims(aud=f"{PUBLIC_URL}/analytics"))
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/analytics/static/console.css").status_code == 200   # no patient data in a stylesheet


def test_the_console_pages_are_not_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/cds-services" in paths and "/analytics" not in paths and "/analytics/rules/{rule_id}" not in paths

