"""The shipped deployments describe the topology tests/test_topology.py runs: compose.yaml and the
Kubernetes manifests (checked against the Kubernetes schemas, offline, by kubernetes-validate)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds import PROJECT_ROOT
from cds.auth.issuers import IssuersFile
from cds.config import Settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
SETTINGS = {f"CDS_{name.upper()}" for name in Settings.model_fields}


def _manifests() -> dict[str, dict[str, Any]]:
    """The resources kustomization.yaml lists, by kind."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    documents = [yaml.safe_load((K8S / name).read_text()) for name in listed]
    return {document["kind"]: document for document in documents}


@pytest.mark.parametrize("kind", ["Secret", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                                  "PodDisruptionBudget"])
def test_every_manifest_is_valid_kubernetes(kind):
    kubernetes_validate.validate(_manifests()[kind], kubernetes_validate.utils.latest_version(), strict=True)


def test_the_deployment_probes_runs_unprivileged_and_takes_its_settings_from_the_configmap_and_secret():
    manifests = _manifests()
    pod = manifests["Deployment"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {source.get("configMapRef", source.get("secretRef"))["name"] for source in container["envFrom"]} == \
        {manifests["ConfigMap"]["metadata"]["name"], manifests["Secret"]["metadata"]["name"]}
    config = manifests["ConfigMap"]["data"]
    assert {name for name in config if name.startswith("CDS_")} <= SETTINGS
    assert set(manifests["Secret"]["stringData"]) == {"CDS_DATABASE_URL", "CDS_PATIENT_HASH_KEY"}
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert Path(config["CDS_ISSUERS"]).parent == Path(mounts["issuers"])
    IssuersFile.model_validate(yaml.safe_load(config["issuers.yaml"]))


def test_the_service_hpa_and_pdb_select_the_deployments_pods():
    manifests = _manifests()
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_compose_runs_two_replicas_behind_the_proxy_template_with_one_postgresql():
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert "./deploy/nginx/cds.conf.template:/etc/nginx/templates/cds.conf.template:ro" in proxy["volumes"]
    replicas = [proxy["environment"]["CDS_REPLICA_A"], proxy["environment"]["CDS_REPLICA_B"]]
    environments = []
    for replica in replicas:
        name, _, port = replica.partition(":")
        service = services[name]
        assert service["build"] == "." and port == "8080"
        assert any(volume.endswith(":/var/lib/cobalt-cds") and volume.split(":")[0] in compose["volumes"]
                   for volume in service["volumes"])
        environments.append(service["environment"])
    [environment] = [dict(e) for e in {tuple(sorted(e.items())) for e in environments}]  # both replicas alike
    assert set(environment) <= SETTINGS and environment["CDS_WORKERS"] == "2"
    assert re.fullmatch(r"\$\{CDS_PATIENT_HASH_KEY:\?.+\}", environment["CDS_PATIENT_HASH_KEY"])
    url = re.fullmatch(r"postgresql\+psycopg://(\w+):.+@(\w+):5432/(\w+)", environment["CDS_DATABASE_URL"])
    assert url, environment["CDS_DATABASE_URL"]
    database = services[url[2]]
    assert (database["environment"]["POSTGRES_USER"], database["environment"]["POSTGRES_DB"]) == (url[1], url[3])
    assert any(volume.split(":")[0] in compose["volumes"] for volume in database["volumes"])
    template = (PROJECT_ROOT / "deploy" / "nginx" / "cds.conf.template").read_text()
    assert set(re.findall(r"\$\{(CDS_\w+)\}", template)) == set(proxy["environment"])
