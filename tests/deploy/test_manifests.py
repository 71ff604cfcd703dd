"""deploy/ is checked, not deployed: every Kubernetes object against the Kubernetes OpenAPI schemas (strict), the
containers' commands against the project's and Prefect's command lines, the probes, the env names, the references
to the ConfigMap and the Secret, and the Prefect work pool template. Each check also fails on a broken copy.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.support import (
    DEPLOY,
    KUBERNETES_VERSION,
    POOL_ENTRY,
    ROOT,
    WORK_POOL,
    command_problems,
    containers,
    data_of,
    documents,
    env_names,
    env_problems,
    kubernetes_objects,
    option,
    probe_problems,
    reference_problems,
    rendered_job,
    schema_problems,
    work_pool_problems,
)

OBJECTS = kubernetes_objects()
CONFIGMAPS, SECRETS = data_of(OBJECTS, "ConfigMap"), data_of(OBJECTS, "Secret")
IMAGE = "registry.example.com/passerelle:0.1.0"


def by_name(kind: str, name: str) -> dict:
    return copy.deepcopy(next(o for _, o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name))


def container_of(obj: dict, name: str) -> dict:
    return next(c for c in containers(obj) if c["name"] == name)


def template() -> dict:
    return json.loads(WORK_POOL.read_text())


# -- everything parses; every object is a valid Kubernetes object ---------------------------------------------------

def test_every_file_under_deploy_parses_and_the_expected_objects_are_there():
    files = {f for f, _ in documents()}
    assert {"k8s/kustomization.yaml", "k8s/gateway.yaml", "k8s/worker.yaml", "k8s/migration-job.yaml",
            "k8s/secret.example.yaml", "prefect/kubernetes-work-pool.json", "prefect/work-pool.yaml"} <= files
    kinds = {(o["kind"], o["metadata"]["name"]) for _, o in OBJECTS}
    assert {("Namespace", "passerelle"), ("Deployment", "passerelle-gateway"), ("Service", "passerelle-gateway"),
            ("Deployment", "passerelle-worker"), ("Role", "passerelle-worker"), ("RoleBinding", "passerelle-worker"),
            ("Job", "passerelle-migrate"), ("ConfigMap", "passerelle-config"),
            ("Secret", "passerelle-secrets")} <= kinds


@pytest.mark.parametrize(("file", "obj"), OBJECTS, ids=[f"{f}:{o['kind']}/{o['metadata']['name']}" for f, o in OBJECTS])
def test_each_object_is_valid_against_the_kubernetes_schemas(file, obj):
    assert schema_problems(obj) == [], f"{file} (Kubernetes {KUBERNETES_VERSION})"


@pytest.mark.parametrize("breakage", ["misspelt field", "wrong type", "missing required"])
def test_the_schema_check_fails_on_a_broken_object(breakage):
    gateway = by_name("Deployment", "passerelle-gateway")
    if breakage == "misspelt field":
        gateway["spec"]["replica"] = gateway["spec"].pop("replicas")
    elif breakage == "wrong type":
        gateway["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    else:
        del gateway["spec"]["selector"]
    assert schema_problems(gateway)


def test_the_kustomization_lists_files_that_exist_and_leaves_the_secret_template_and_the_job_out():
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]  # would overwrite the real Secret
    assert "migration-job.yaml" not in kustomization["resources"]  # run at each release, before the rest
    assert all(o["metadata"].get("namespace", "passerelle") == "passerelle" for _, o in OBJECTS)


# -- commands ------------------------------------------------------------------------------------------------------

def test_every_container_runs_a_real_command():
    for file, obj in OBJECTS:
        for container in containers(obj):
            assert command_problems(container) == [], file
    job = rendered_job(template())["spec"]["template"]["spec"]["containers"][0]
    assert job.get("args") is None  # the worker fills in Prefect's own flow-run command


def test_the_commands_are_the_ones_the_brief_names():
    gateway = container_of(by_name("Deployment", "passerelle-gateway"), "gateway")["command"]
    assert gateway[:3] == ["passerelle", "gateway", "serve"] and option(gateway, "--host") == "0.0.0.0"
    migrate = container_of(by_name("Job", "passerelle-migrate"), "migrate")["command"]
    assert migrate == ["python", "-m", "passerelle.store.migrations", "upgrade", "head"]
    worker = container_of(by_name("Deployment", "passerelle-worker"), "worker")["command"]
    assert option(worker, "--type") == "kubernetes"
    assert option(worker, "--pool") == yaml.safe_load(POOL_ENTRY.read_text())["passerelle"]["name"]


@pytest.mark.parametrize(("command", "reason"), [
    (["passerelle", "gateway", "start"], "'start' is not a command"),
    (["passerelle", "gateway", "serve", "--listen", "0.0.0.0"], "No such option"),
    (["passerelle", "gateway", "serve", "--port", "80000"], "80000"),
    (["python", "-m", "passerelle.store.migration", "upgrade", "head"], "no such module"),
    (["prefect", "worker", "start", "--pool", "p", "--kind", "kubernetes"], "--kind"),
    (["gunicorn", "passerelle.gateway.app:create_app"], "not a command of the project"),
])
def test_the_command_check_fails_on_a_command_that_does_not_exist(command, reason):
    problems = command_problems({"name": "c", "command": command})
    assert problems and reason in problems[0]


@pytest.mark.parametrize("args", [[], ["upgrade"], ["migrate", "head"]])
def test_the_migration_command_fails_without_a_whole_alembic_command(args):
    assert command_problems({"name": "m", "command": ["python", "-m", "passerelle.store.migrations", *args]})


# -- probes --------------------------------------------------------------------------------------------------------

def test_the_gateway_probes_healthz_on_the_port_it_listens_on():
    gateway = by_name("Deployment", "passerelle-gateway")
    assert gateway["spec"]["replicas"] >= 2
    assert probe_problems(container_of(gateway, "gateway")) == []
    worker = container_of(by_name("Deployment", "passerelle-worker"), "worker")
    assert probe_problems(worker, ("livenessProbe",), path="/health") == []  # Prefect's worker webserver


@pytest.mark.parametrize("breakage", ["path", "unknown port", "other port", "no readiness"])
def test_the_probe_check_fails_on_a_wrong_probe(breakage):
    container = container_of(by_name("Deployment", "passerelle-gateway"), "gateway")
    if breakage == "path":
        container["livenessProbe"]["httpGet"]["path"] = "/health"
    elif breakage == "unknown port":
        container["readinessProbe"]["httpGet"]["port"] = "web"
    elif breakage == "other port":
        container["command"][container["command"].index("--port") + 1] = "8080"
    else:
        del container["readinessProbe"]
    assert probe_problems(container)


# -- env and references ----------------------------------------------------------------------------------------

def test_every_env_name_is_a_setting_that_is_read():
    names = [n for _, o in OBJECTS for c in containers(o) for n in env_names(c, CONFIGMAPS)]
    names += [n for data in (*CONFIGMAPS.values(), *SECRETS.values()) for n in data]
    job = rendered_job(template())["spec"]["template"]["spec"]["containers"][0]
    names += [e["name"] for e in job["env"]] + list(template()["variables"]["properties"]["env"]["default"])
    assert {"PASSERELLE_DATABASE_URL", "PREFECT_API_URL", "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"} <= set(names)
    assert env_problems(names) == []


@pytest.mark.parametrize("name", ["PASSERELLE_DB_URL", "PASSERELLE_GATEWAY_MAX_CONNECTION", "PREFECT_API_ULR"])
def test_the_env_check_fails_on_a_name_nothing_reads(name):
    assert env_problems(["PASSERELLE_DATABASE_URL", name]) == [next(iter(env_problems([name])))]
    assert env_problems([name])


def test_every_configmap_and_secret_reference_exists():
    for file, obj in OBJECTS:
        for container in containers(obj):
            assert reference_problems(container, CONFIGMAPS, SECRETS) == [], file
    job = rendered_job(template())["spec"]["template"]["spec"]["containers"][0]
    assert reference_problems(job, CONFIGMAPS, SECRETS) == []


@pytest.mark.parametrize("breakage", ["secret key", "configmap name", "envFrom"])
def test_the_reference_check_fails_on_a_missing_key_or_object(breakage):
    container = container_of(by_name("Deployment", "passerelle-gateway"), "gateway")
    if breakage == "secret key":
        container["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "DATABASE_URL"
    elif breakage == "configmap name":
        container["env"].append({"name": "PREFECT_API_URL",
                                 "valueFrom": {"configMapKeyRef": {"name": "prefect", "key": "PREFECT_API_URL"}}})
    else:
        container["envFrom"][0]["configMapRef"]["name"] = "passerelle-settings"
    assert reference_problems(container, CONFIGMAPS, SECRETS)


def test_the_secret_template_holds_no_real_secret():
    for key, value in SECRETS["passerelle-secrets"].items():
        assert "CHANGE-ME" in value, f"{key}: the template must hold placeholders only"


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    user = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER "))
    for file, obj in OBJECTS:
        spec = obj.get("spec", {}).get("template", {}).get("spec")
        if spec is None:
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True, file
        for container in containers(obj):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, file
            assert "memory" in container["resources"]["limits"], file
            if container["image"].startswith("registry.example.com/passerelle"):
                assert f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}" == user


# -- the Prefect work pool -----------------------------------------------------------------------------------------

def test_the_work_pool_template_is_a_valid_kubernetes_base_job_template():
    assert work_pool_problems(template()) == []
    defaults = template()["variables"]["properties"]
    assert defaults["image"]["default"] == IMAGE
    assert defaults["namespace"]["default"] == "passerelle"
    assert defaults["service_account_name"]["default"] == "passerelle"
    job = rendered_job(template())
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"]: e for e in container["env"]}
    assert env["PASSERELLE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "passerelle-secrets"
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]["value"] == "30"


@pytest.mark.parametrize("breakage", ["undeclared placeholder", "no variables", "restartPolicy", "container name",
                                      "bad default", "invalid job"])
def test_the_work_pool_check_fails_on_a_broken_template(breakage):
    broken = template()
    job = broken["job_configuration"]["job_manifest"]
    if breakage == "undeclared placeholder":
        job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "{{ memory }}"
    elif breakage == "no variables":
        del broken["variables"]
    elif breakage == "restartPolicy":
        job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    elif breakage == "container name":
        job["spec"]["template"]["spec"]["containers"][0]["name"] = "flow"
    elif breakage == "bad default":
        broken["variables"]["properties"]["backoff_limit"]["default"] = -1
    else:
        job["spec"]["template"]["spec"]["containers"][0]["workingDirectory"] = "/opt/passerelle"
    assert work_pool_problems(broken)


def test_prefect_yamls_pool_entry_targets_the_template_like_the_process_pool_does():
    entry = yaml.safe_load(POOL_ENTRY.read_text())["passerelle"]
    local = yaml.safe_load((ROOT / "prefect.yaml").read_text())["definitions"]["work_pools"]["passerelle"]
    assert entry["name"] != local["name"]  # an alternative pool; the local stack keeps its process pool
    assert entry["work_queue_name"] == local["work_queue_name"]
    assert entry["job_variables"]["env"] == local["job_variables"]["env"]  # the heartbeat the automation needs
    assert set(entry["job_variables"]) <= set(template()["variables"]["properties"])
    assert entry["job_variables"]["image"] == IMAGE
    job = rendered_job(template(), entry["job_variables"])
    assert schema_problems({**job, "spec": {**job["spec"], "template": {"spec": {
        k: v for k, v in job["spec"]["template"]["spec"].items() if k not in {"parallelism", "completions"}}}}}) == []


def test_the_images_agree_and_the_dockerfile_copies_what_exists():
    images = {c["image"] for _, o in OBJECTS for c in containers(o) if "passerelle" in c["image"]}
    assert images == {IMAGE}
    worker = container_of(by_name("Deployment", "passerelle-worker"), "worker")["image"]
    from importlib.metadata import version

    assert worker == f"prefecthq/prefect:{version('prefect')}-python3.11-kubernetes"  # the locked Prefect
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    uv = next(line.split(":=")[1].strip() for line in makefile.splitlines() if line.startswith("UV_VERSION"))
    assert f"uv=={uv}" in dockerfile and "--require-hashes requirements.lock" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which is not in the repository"
    assert Path(ROOT / "prefect.yaml").read_text().count("$PASSERELLE_ROOT") and "PASSERELLE_ROOT=/opt/passerelle" \
        in dockerfile
