"""A pack's version, as cards and /readyz give it, changes whenever the pack's content does."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from cds import BUNDLED_RULES
from cds.rulebook import load_rulebook
from cds.rulebook.versions import PackVersion, like_patterns, matches, pack_version, parse
from tests.conftest import client_for, edit_file, fixture_request


def _versions(rules) -> dict[str, str]:
    return {name: pack.version for name, pack in load_rulebook(rules).packs.items()}


def test_cards_and_readyz_give_the_declared_version_with_a_content_digest(rules_copy, settings):
    client = client_for(rules_copy, settings)
    packs = client.get("/readyz").json()["packs"]
    card = client.post("/cds-services/b12-order-sign",
                       json=fixture_request("requests/unit-error-1000mg.json")).json()["cards"][0]
    declared = re.search(r'^version: "(.+)"$', (rules_copy / "packs" / "units.yaml").read_text(), re.M)[1]
    assert card["extension"]["cobalt-cds"]["pack"] == "units"
    assert card["extension"]["cobalt-cds"]["packVersion"] == packs["units"]
    assert re.fullmatch(rf"{declared}\+[0-9a-f]{{7}}\.uk", packs["units"])


def test_an_edit_changes_its_packs_version_only_and_a_comment_changes_none(rules_copy):
    before = _versions(rules_copy)
    pack = rules_copy / "packs" / "units.yaml"
    edit_file(pack, "{value: 5000,", "{value: 6000,")
    edited = _versions(rules_copy)
    assert edited["units"] != before["units"]
    assert {k: v for k, v in edited.items() if k != "units"} == {k: v for k, v in before.items() if k != "units"}
    edit_file(pack, "title: Unit confusion", "title: Unit confusion   # a comment")
    assert _versions(rules_copy) == edited
    edit_file(pack, "{value: 6000,", "{value: 5000,")
    assert _versions(rules_copy) == before


def test_the_version_is_the_same_in_another_process():
    script = ("from cds.rulebook import load_rulebook; "
              f"print(load_rulebook({str(BUNDLED_RULES)!r}).packs['units'].version)")
    outputs = {subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout.strip() for seed in ("1", "2")}
    assert outputs == {_versions(BUNDLED_RULES)["units"]}


def test_a_profile_value_changes_the_versions_of_the_packs_it_sets_and_names_the_profile():
    uk, us = (load_rulebook(BUNDLED_RULES, profile).packs for profile in ("uk", "us"))
    assert us["escalation"].version.endswith(".us") and uk["escalation"].version.endswith(".uk")
    assert parse(us["escalation"].version).digest != parse(uk["escalation"].version).digest   # it sets a value
    assert parse(us["units"].version).digest == parse(uk["units"].version).digest             # it sets none


@pytest.mark.parametrize(("declared", "made"), [
    ("2026-11-30", "2026-11-30+3fa2c1d.uk"),
    ("1.2+b7", "1.2+b7.3fa2c1d.uk"),
    ("2026-11-30-rc1", "2026-11-30-rc1+3fa2c1d.uk"),
    ("v2.0-beta+exp.sha.5114f85", "v2.0-beta+exp.sha.5114f85.3fa2c1d.uk"),
])
def test_a_version_is_made_read_and_matched_in_one_way(declared, made):
    version = PackVersion(declared, "3fa2c1d", "uk")
    assert str(version) == made and parse(made) == version
    assert matches(made, declared) and matches(made, made)
    assert not matches(made, declared[:-1]) and not matches(made, f"{declared}.3")
    assert str(pack_version(declared, {"a": 1}, "us")).startswith(declared)


@pytest.mark.parametrize("legacy", ["2026-11-30+3fa2c1d", "1.2+b7.3fa2c1d"])
def test_versions_stored_before_profiles_still_match_their_declared_version(legacy):
    declared = legacy.rsplit("+" if legacy.count("+") == 1 and "." not in legacy.split("+")[1] else ".", 1)[0]
    assert parse(legacy) == PackVersion(declared, "3fa2c1d", None) and matches(legacy, declared)


def test_the_sql_patterns_select_what_matches_selects(tmp_path):
    import sqlite3

    stored = ["2026-11-30+3fa2c1d.uk", "2026-11-30+3fa2c1d", "1.2+b7.3fa2c1d.us", "2026-11-300+3fa2c1d.uk",
              "2026-11-30+b7.3fa2c1d.uk", "1_2+3fa2c1d.uk", "1x2+3fa2c1d.uk"]
    db = sqlite3.connect(tmp_path / "v.db")
    db.execute("create table v (version text)")
    db.executemany("insert into v values (?)", [(v,) for v in stored])
    for wanted in ("2026-11-30", "1.2+b7", "1_2"):
        where = " or ".join("version like ? escape '\\'" for _ in like_patterns(wanted))
        found = {row[0] for row in db.execute(f"select version from v where {where}", like_patterns(wanted))}
        assert found == {v for v in stored if matches(v, wanted) and v != wanted}, wanted
