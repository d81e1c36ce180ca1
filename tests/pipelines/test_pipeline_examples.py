"""The examples hold together: compose files reference what exists, secrets match the Vector
configs, the systemd unit and Kubernetes manifest say what the runbook promises. (Docker is
not run here; this is structure only.)"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from pipeline_support import EXAMPLES_DIR, FLUENT_BIT_DIR, REPO_ROOT, VECTOR_DIR, load_fluent_bit

DESTS = ("splunk", "elasticsearch", "loki")


def _compose(dest):
    return yaml.safe_load((EXAMPLES_DIR / dest / "compose.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("dest", DESTS)
def test_compose_services_and_mounts_exist(dest):
    compose = _compose(dest)
    services = compose["services"]
    assert {"simulator", "vector", "connector", "fluent-bit"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        build = svc.get("build")
        if build:
            assert (EXAMPLES_DIR / dest / build["context"] / build["dockerfile"]).is_file()
        mode = svc.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.split(":", 1)[1] in services
        for dep in svc.get("depends_on", []):
            assert dep in services, (name, dep)
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (EXAMPLES_DIR / dest / src).exists(), (name, src)
            else:
                assert src in compose["volumes"], (name, src)


@pytest.mark.parametrize("dest", DESTS)
def test_compose_vector_gets_every_secret_its_config_reads(dest):
    text = (VECTOR_DIR / f"{dest}.yaml").read_text(encoding="utf-8")
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    used = set(re.findall(r"SECRET\[\w+\.([\w.-]+)\]", code))
    mounted = {p.name for p in (EXAMPLES_DIR / dest / "vector-secrets").iterdir()}
    assert used and used == mounted
    vector = _compose(dest)["services"]["vector"]
    assert f"../../vector/{dest}.yaml:/etc/vector/vector.yaml:ro" in vector["volumes"]
    config = yaml.safe_load(text)
    assert {b["path"] for b in config["secret"].values()} == {"/etc/vector/secrets"}
    assert "./vector-secrets:/etc/vector/secrets:ro" in vector["volumes"]


@pytest.mark.parametrize("dest", DESTS)
def test_compose_fluent_bit_sets_every_variable_its_config_reads(dest):
    svc = _compose(dest)["services"]["fluent-bit"]
    [mount] = [v for v in svc["volumes"] if v.startswith("../../fluent-bit/")]
    cfg_path = EXAMPLES_DIR / dest / mount.split(":")[0]
    assert cfg_path.is_file()
    used = set(re.findall(r"\$\{(\w+)\}", cfg_path.read_text(encoding="utf-8")))
    assert used and used <= set(svc["environment"])
    inp = load_fluent_bit(cfg_path).events_input
    connector = _compose(dest)["services"]["connector"]["command"]
    output = connector[connector.index("--output") + 1]
    assert output == f"forward://{inp['listen']}:{inp['port']}?tag=docusign.monitor"


def test_dockerfiles_install_the_connector_where_the_configs_expect_it():
    vector_df = (EXAMPLES_DIR / "Dockerfile.vector").read_text(encoding="utf-8")
    assert "/usr/local/bin/docusign-input" in vector_df
    assert "FROM timberio/vector:0.57" in vector_df
    assert (REPO_ROOT / "pyproject.toml").is_file()
    entry = (EXAMPLES_DIR / "docker-entrypoint.sh").read_text(encoding="utf-8")
    assert entry.startswith("#!/bin/sh") and 'exec "$@"' in entry


def test_systemd_unit():
    unit = (EXAMPLES_DIR / "systemd" / "docusign-input.service").read_text(encoding="utf-8")
    directives = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            directives.setdefault(k, []).append(v)
    assert directives["Type"] == ["simple"]
    assert directives["Restart"] == ["on-failure"]
    assert set(directives["RestartPreventExitStatus"][0].split()) == {"2", "77", "78"}
    assert directives["StateDirectory"] == ["docusign-input"]
    assert directives["EnvironmentFile"]
    creds = {v.split(":")[0] for v in directives["LoadCredential"]}
    env = " ".join(directives["Environment"])
    assert "DOCUSIGN_PRIVATE_KEY_FILE=%d/" in env and "DOCUSIGN_INTEGRATION_KEY_FILE=%d/" in env
    assert {m.group(1) for m in re.finditer(r"_FILE=%d/(\S+)", env)} == creds
    argv = shlex.split(directives["ExecStart"][0])
    assert argv[:3] == ["/usr/local/bin/docusign-input", "run", "--follow"]
    assert argv[argv.index("--output") + 1] == "forward://127.0.0.1:24224?tag=docusign.monitor"
    env_file = (EXAMPLES_DIR / "systemd" / "docusign-input.env").read_text(encoding="utf-8")
    [checkpoint] = [ln.split("=", 1)[1] for ln in env_file.splitlines()
                    if ln.startswith("DOCUSIGN_CHECKPOINT=")]
    assert checkpoint.startswith(f"/var/lib/{directives['StateDirectory'][0]}/")
    # the version LoadCredential needs, and the way round it on an older systemd
    assert "247" in unit and "User=docusign-input" in unit


def _k8s():
    return list(yaml.safe_load_all(
        (EXAMPLES_DIR / "kubernetes" / "docusign-input.yaml").read_text(encoding="utf-8")))


def test_kubernetes_deployment_is_single_instance_with_state_on_a_pvc():
    docs = {d["kind"]: d for d in _k8s()}
    dep = docs["Deployment"]["spec"]
    assert dep["replicas"] == 1 and dep["strategy"] == {"type": "Recreate"}
    pod = dep["template"]["spec"]
    [connector] = [c for c in pod["containers"] if c["name"] == "connector"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in connector["volumeMounts"]}
    checkpoint = {e["name"]: e.get("value") for e in connector["env"]}["DOCUSIGN_CHECKPOINT"]
    state_mount = [p for p in mounts if checkpoint.startswith(p + "/")]
    assert state_mount and "persistentVolumeClaim" in volumes[mounts[state_mount[0]]]
    assert volumes[mounts[state_mount[0]]]["persistentVolumeClaim"]["claimName"] == docs[
        "PersistentVolumeClaim"]["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in connector["env"]}
    assert "DOCUSIGN_PRIVATE_KEY" not in env and "DOCUSIGN_INTEGRATION_KEY" not in env
    for var in ("DOCUSIGN_PRIVATE_KEY_FILE", "DOCUSIGN_INTEGRATION_KEY_FILE"):
        assert any(env[var].startswith(p + "/") and "secret" in volumes[n]
                   for p, n in mounts.items()), var
    # readiness, not liveness: a restart cures neither a DocuSign outage nor missing consent
    assert "livenessProbe" not in connector
    probe = connector["readinessProbe"]["exec"]["command"]
    assert probe[1] == "status" and "--max-lag" in probe and "--checkpoint" not in probe


def test_kubernetes_sidecar_config_is_the_shipped_forward_config():
    docs = {d["kind"]: d for d in _k8s()}
    assert docs["ConfigMap"]["data"]["fluent-bit.yaml"] == (
        FLUENT_BIT_DIR / "forward-splunk.yaml").read_text(encoding="utf-8")
