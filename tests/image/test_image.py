"""The image `make image` built, run for real: its own CMD, environment and user, on the host's
network; and the builder stage's wheelhouse installed offline into a fresh venv with no compiler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cds import PROJECT_ROOT
from tests.conftest import fixture_request
from tests.image.conftest import BUILDER, IMAGE, buildah, container, run_args, started
from tests.jwt_helpers import AUD, PUBLIC_URL, SERVICE, Signer, claims, file_issuer, write_issuers
from tests.live import free_port, wait_ready

pytestmark = pytest.mark.image
START_S = 300   # a bound, not a timing check: a start runs every rule example


def _image_config() -> dict:
    return json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["Docker"]["config"]


def _readable(directory: Path) -> Path:
    """`directory` and its files readable by the image's non-root user (mounted read-only)."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    return directory


def test_the_image_refuses_to_start_without_issuers_unless_auth_is_off_explicitly(tmp_path):
    config = _image_config()
    env = {"CDS_PORT": str(free_port())}
    with container(IMAGE) as name:
        refused = subprocess.run(run_args(name, *config["Cmd"], env=env), capture_output=True, text=True,
                                 timeout=START_S)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--auth jwt needs --issuers" in refused.stderr
        base = f"http://127.0.0.1:{env['CDS_PORT']}"
        log = tmp_path / "serve.log"
        with started(run_args(name, *config["Cmd"], env={**env, "CDS_AUTH": "off"}), log) as process:
            wait_ready(base, process, log, timeout_s=START_S)
            answer = requests.post(f"{base}/cds-services/{SERVICE}", timeout=10,
                                   json=fixture_request("requests/unit-error-1000mg.json"))
    assert answer.status_code == 200 and answer.json()["cards"], answer.text


def test_the_image_serves_a_jwt_call_as_a_non_root_user_and_its_healthcheck_passes(tmp_path):
    config = _image_config()
    assert config["User"] == "10001:10001" and config["Cmd"] == ["cds", "serve"]
    signer = Signer.es384()
    issuers = tmp_path / "issuers"
    issuers.mkdir()
    write_issuers(issuers, file_issuer(issuers, signer))
    _readable(issuers)
    port = str(free_port())
    env = {"CDS_PORT": port, "CDS_ISSUERS": "/etc/cobalt-cds/issuers.yaml", "CDS_PUBLIC_URL": PUBLIC_URL}
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with container(IMAGE) as name, started(run_args(name, *config["Cmd"], env=env,
                                                    volumes=(f"{issuers}:/etc/cobalt-cds:ro",)), log) as process:
        wait_ready(base, process, log, timeout_s=START_S)
        ready = requests.get(f"{base}/readyz", timeout=5).json()
        token = signer.token(claims(aud=AUD))
        request = fixture_request("requests/unit-error-1000mg.json")
        answer = requests.post(f"{base}/cds-services/{SERVICE}", timeout=10, json=request,
                               headers={"Authorization": f"Bearer {token}"})
        refused = requests.post(f"{base}/cds-services/{SERVICE}", timeout=10, json=request)
        [_, *healthcheck] = config["Healthcheck"]["Test"]          # ["CMD", ...]: run as the engine would
        health = subprocess.run(run_args(name, *healthcheck, env={"CDS_PORT": port}), capture_output=True,
                                timeout=60)
        tools = subprocess.run(run_args(name, "sh", "-c", "command -v gcc cc || echo no compiler"),
                               capture_output=True, text=True, timeout=60)
        uid = next(line.split()[1] for line in Path(f"/proc/{ready['worker']}/status").read_text().splitlines()
                   if line.startswith("Uid:"))
    assert answer.status_code == 200, answer.text
    assert "units.mg-mcg-confusion" in [card["source"]["topic"]["code"] for card in answer.json()["cards"]]
    assert refused.status_code == 401
    assert health.returncode == 0, health.stderr
    assert tools.stdout.strip() == "no compiler"
    assert uid == "10001"


def test_the_builder_wheelhouse_installs_offline_without_a_compiler_and_serves(tmp_path):
    wheels = tmp_path / "wheels"
    with container(BUILDER) as name:
        mounted = Path(buildah("mount", name).stdout.strip())
        try:
            shutil.copytree(mounted / "wheels", wheels)
        finally:
            buildah("umount", name, check=False)
    assert any(wheels.glob("durable_rules-2.0.28-*.whl"))        # compiled by the builder, not an sdist
    assert not [path.name for path in wheels.iterdir() if not path.name.endswith(".whl")]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    offline = {"PATH": str(venv / "bin"), "PIP_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}  # no cc, no index
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--find-links", str(wheels),
                              "cobalt-cds[postgres]"], env=offline, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    home = tmp_path / "home"
    for part in ("rules", "fhir_fixtures"):
        shutil.copytree(PROJECT_ROOT / part, home / part)
    port = str(free_port())
    base = f"http://127.0.0.1:{port}"
    env = {**offline, "CDS_HOME": str(home), "CDS_PORT": port, "CDS_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "serve.log"
    with started([str(venv / "bin" / "cds"), "serve"], log, env=env) as process:
        wait_ready(base, process, log, timeout_s=START_S)
        answer = requests.post(f"{base}/cds-services/{SERVICE}", timeout=10,
                               json=fixture_request("requests/unit-error-1000mg.json"))
    assert answer.status_code == 200 and answer.json()["cards"], answer.text
