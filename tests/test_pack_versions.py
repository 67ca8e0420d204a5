"""A pack's version, as cards and /readyz give it, changes whenever the pack's content does."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cds import BUNDLED_RULES
from cds.rulebook import load_rulebook
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
    assert re.fullmatch(rf"{declared}\+[0-9a-f]{{7}}", packs["units"])


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
