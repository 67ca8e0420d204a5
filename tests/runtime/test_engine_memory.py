"""A replaced rulebook's compiled rulesets are freed (once no request holds them), and so are an explain's:
a long-running `cds serve --reload-rules` does not grow with every reload."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cds import BUNDLED_RULES
from cds.ruletests import call_fixture
from cds.runtime import RuleRuntime
from tests.conftest import FIXTURES

GROWTH_MIB = 8      # allowed after warm-up, over 180 reloads or explains (it grew ~2.5 MiB each before)

SCRIPT = textwrap.dedent("""
    import os, sys
    from cds import BUNDLED_RULES
    from cds.engine.explain import explain_rules
    from cds.runtime import RuleRuntime

    def rss_mib():
        return int(open(f"/proc/{os.getpid()}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    runtime = RuleRuntime(BUNDLED_RULES)
    facts = [{"type": "patient", "id": "patient:p", "hook": "patient-view", "b12_status": "low"}]
    for what in ("reload", "explain"):
        for n in range(200):
            if what == "reload":
                assert runtime.reload()
            else:
                rules = [(r, p.parameters) for p in runtime.current.rulebook.packs.values() for r in p.rules]
                explain_rules(rules, facts)
            if n == 19:
                warm = rss_mib()
        print(what, round(rss_mib() - warm, 1))
""")


def test_two_hundred_reloads_and_explains_keep_resident_memory_flat():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900, check=True)
    growth = {name: float(value) for name, value in (line.split() for line in result.stdout.splitlines())}
    assert set(growth) == {"reload", "explain"}
    assert all(value <= GROWTH_MIB for value in growth.values()), growth


def test_a_generation_a_request_holds_is_freed_only_when_it_lets_go():
    runtime = RuleRuntime(BUNDLED_RULES)
    with runtime.lease() as held:
        assert runtime.reload()
        assert runtime.current is not held
        # the replaced generation still evaluates for the request that holds it
        outcome = call_fixture(held, FIXTURES / "requests" / "unit-error-1000mg.json")
        assert [c["source"]["topic"]["code"] for c in outcome.response["cards"]] == ["units.mg-mcg-confusion"]
        assert held.engine._host._ruleset_list   # noqa: SLF001 - its compiled rulesets are still there
    assert not held.engine._host._ruleset_list   # noqa: SLF001 - freed when the request let go
    with runtime.lease() as current:
        assert current is runtime.current and current.engine._host._ruleset_list   # noqa: SLF001
