"""The tools that only read the store (`cds analytics export`, `cds rules diff --corpus <store>`) never
change it: a store at an older schema than this code reads is refused, saying which, and left as it was
(upgrading it is the service's start, which the replicas of the older version are not ready for)."""

from __future__ import annotations

from sqlalchemy import create_engine
from typer.testing import CliRunner

from cds import BUNDLED_RULES
from cds.cli import app
from cds.store.migrations import revisions
from tests.stores import database_at

runner = CliRunner()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return revisions(engine)[0]
    finally:
        engine.dispose()


def test_reading_tools_refuse_an_older_store_and_leave_it_as_it_was(database_url, tmp_path):
    database_at(database_url, "0005").dispose()   # as the previous version of the service left it
    _, head = revisions(create_engine(database_url))
    exported = runner.invoke(app, ["analytics", "export"],
                             env={"CDS_DATABASE_URL": database_url, "CDS_DATA_DIR": str(tmp_path)})
    assert exported.exit_code == 2, exported.output
    assert f"schema revision 0005 and this version of cds reads {head}" in exported.stderr
    compared = runner.invoke(app, ["rules", "diff", "--base", str(BUNDLED_RULES), "--corpus", database_url])
    assert compared.exit_code == 2, compared.output
    assert "schema revision 0005" in compared.stderr
    assert _revision(database_url) == "0005"


def test_reading_tools_read_a_store_at_this_codes_schema(database_url, tmp_path):
    database_at(database_url, "head").dispose()
    exported = runner.invoke(app, ["analytics", "export"],
                             env={"CDS_DATABASE_URL": database_url, "CDS_DATA_DIR": str(tmp_path)})
    assert exported.exit_code == 0, exported.output
    assert '"rules": []' in exported.stdout
