"""The one container image (Containerfile) and the manifests that run it (deploy/): the rules a reviewer would check by
eye, checked on every run. `make check-deploy` adds kubernetes-validate (the schemas) and hadolint (the linter)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
SERVICES = ("gateway", "auth", "kyc", "txn", "fraud", "notify")
IMAGE = "sekisho:0.1.0"


def _instructions() -> list[dict[str, Any]]:
    parser = DockerfileParser(fileobj=io.BytesIO(CONTAINERFILE.read_bytes()))
    return list(parser.structure)


def _of(instruction: str) -> list[str]:
    return [item["value"] for item in _instructions() if item["instruction"] == instruction]


def _base_images() -> list[str]:
    """Each FROM's image, with ARG defaults substituted (the base is an ARG so a digest can be given at build)."""
    args = {}
    for value in _of("ARG"):
        name, _, default = value.partition("=")
        args[name.strip()] = default.strip()
    images = []
    for value in _of("FROM"):
        image = value.split()[0]
        images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image))
    return images


def test_the_base_image_is_a_pinned_slim_python_never_latest() -> None:
    images = _base_images()
    assert len(images) >= 2  # a build stage and a runtime stage
    for image in images:
        repository, _, tag = image.partition("@")[0].partition(":")
        assert repository == "python"
        # An exact release (3.11.7-slim-…), or a digest: never a moving tag such as 3.11-slim or latest.
        assert "@sha256:" in image or re.fullmatch(r"\d+\.\d+\.\d+-slim(-\w+)?", tag), image
        assert "latest" not in image


def test_the_image_runs_as_a_fixed_numeric_non_root_user() -> None:
    users = _of("USER")
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit()
    assert int(user) != 0
    assert group == "" or (group.isdigit() and int(group) != 0)


def test_the_entrypoint_is_sekisho_and_the_command_starts_one_service() -> None:
    assert _of("ENTRYPOINT")[-1].replace(" ", "") == '["sekisho"]'
    command = _of("CMD")[-1]
    assert command.startswith('["up"')
    assert sum(f'"{service}"' in command for service in SERVICES) == 1


def test_no_dev_dependencies_and_no_healthcheck_in_the_image() -> None:
    runs = " ".join(_of("RUN"))
    assert "[dev]" not in runs
    assert "pip install" in runs
    assert _of("HEALTHCHECK") == []  # Kubernetes' probes do it


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _manifests() -> list[dict[str, Any]]:
    return [document for path in sorted((ROOT / "deploy").rglob("*.yaml")) for document in _documents(path)]


def _kind(kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in _manifests() if document["kind"] == kind}


def test_every_service_has_a_deployment_and_every_pod_runs_the_one_image() -> None:
    assert set(_kind("Deployment")) == set(SERVICES)
    images = set()
    for kind in ("Deployment", "Job"):
        for workload in _kind(kind).values():
            images |= {container["image"] for container in workload["spec"]["template"]["spec"]["containers"]}
    assert images == {IMAGE}


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_pod_is_non_root_read_only_and_without_capabilities(kind: str) -> None:
    workloads = _kind(kind)
    assert workloads
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name  # the Containerfile's USER
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in security["capabilities"], name


def test_the_containerfile_user_is_the_pods_user() -> None:
    assert _of("USER")[-1] == "10001:10001"


def test_every_deployment_has_a_disruption_budget_that_keeps_one_pod_serving() -> None:
    budgets = _kind("PodDisruptionBudget")
    deployments = _kind("Deployment")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        deployment = deployments[name]
        assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        replicas = deployment["spec"]["replicas"]
        if "maxUnavailable" in budget["spec"]:
            assert replicas - budget["spec"]["maxUnavailable"] >= 1, name
        else:
            assert 1 <= budget["spec"]["minAvailable"] < replicas, name


def test_the_deployments_keep_their_probes() -> None:
    for name, deployment in _kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


def test_every_deployment_runs_sekisho_up_of_its_own_service_on_its_container_port() -> None:
    """One image, one command: `sekisho up SERVICE` (the Containerfile's entrypoint and the Deployment's service),
    listening where the pod's port, probes and Service point (the ConfigMap's SEKISHO_HOST and SEKISHO_PORT), in
    production mode, where `sekisho up` never migrates (the migrate Job does)."""
    config = _kind("ConfigMap")["sekisho-config"]["data"]
    assert config["SEKISHO_ENV"] == "prod"
    assert config["SEKISHO_HOST"] == "0.0.0.0"  # noqa: S104 - a pod listens on its own network namespace
    for name, deployment in _kind("Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["sekisho", "up", name], name
        assert "args" not in container, name  # nothing appended to the command (no uvicorn flag, no --migrate)
        assert [port["containerPort"] for port in container["ports"] if port["name"] == "http"] == [
            int(config["SEKISHO_PORT"])
        ], name
        # The component comes from the command alone: no SEKISHO_SERVICE that could name another one.
        assert "SEKISHO_SERVICE" not in {variable["name"] for variable in container.get("env", [])}, name
        assert {source["configMapRef"]["name"] for source in container["envFrom"] if "configMapRef" in source} == {
            "sekisho-config"
        }, name
