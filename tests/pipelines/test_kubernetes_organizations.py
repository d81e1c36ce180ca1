"""examples/kubernetes/organizations.yaml, checked offline: valid against the Kubernetes API
schemas, the `restricted` Pod Security Standard, and wired as the interface says: each replica
takes its shard (DOCUSIGN_SHARD=auto, DOCUSIGN_SHARDS = replicas), the organizations file from a
ConfigMap (a valid one, keys only as files under the Secret's mount), a volume per replica for the
state directory, readiness from `status --organizations --shard`."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from pipeline_support import EXAMPLES_DIR
from test_kubernetes_manifest import KUBERNETES_VERSIONS, restricted_violations

from docusign_input.organizations import read_entries
from docusign_input.sharding import parse_shard

MANIFEST = EXAMPLES_DIR / "kubernetes" / "organizations.yaml"


def _docs() -> list[dict]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]


def _one(kind: str) -> dict:
    [found] = [d for d in _docs() if d["kind"] == kind]
    return found


def _connector() -> dict:
    pod = _one("StatefulSet")["spec"]["template"]["spec"]
    [connector] = [c for c in pod["containers"] if c["name"] == "connector"]
    return connector


def _env() -> dict[str, str]:
    return {e["name"]: e.get("value") for e in _connector()["env"]}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(version):
    docs = _docs()
    assert {d["kind"] for d in docs} == {"ConfigMap", "Service", "StatefulSet"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_pod_meets_the_restricted_pod_security_standard():
    assert restricted_violations(_one("StatefulSet")["spec"]["template"]["spec"]) == []


def test_each_replica_takes_its_own_shard():
    statefulset = _one("StatefulSet")
    env = _env()
    replicas = statefulset["spec"]["replicas"]
    assert env["DOCUSIGN_SHARD"] == "auto" and int(env["DOCUSIGN_SHARDS"]) == replicas
    name = statefulset["metadata"]["name"]
    shards = [parse_shard("auto", label="DOCUSIGN_SHARD", shards=env["DOCUSIGN_SHARDS"],
                          hostname=f"{name}-{ordinal}") for ordinal in range(replicas)]
    assert [s.index for s in shards] == list(range(replicas))
    _, raws, _ = read_entries_from_configmap()
    for raw in raws:
        assert sum(s.takes(raw.name) for s in shards) == 1
    assert statefulset["spec"]["serviceName"] == _one("Service")["metadata"]["name"]


def read_entries_from_configmap(tmp_dir=None):
    import tempfile
    from pathlib import Path

    text = _one("ConfigMap")["data"]["organizations.toml"]
    folder = Path(tmp_dir or tempfile.mkdtemp())
    path = folder / "organizations.toml"
    path.write_text(text, encoding="utf-8")
    return read_entries(path)


def test_the_organizations_file_is_valid_and_its_keys_are_files_from_the_secret():
    defaults, raws, problems = read_entries_from_configmap()
    assert problems == [] and len(raws) >= 2
    mounts = {m["name"]: m["mountPath"] for m in _connector()["volumeMounts"]}
    secret_dir = mounts["docusign-secrets"]
    for table in [defaults, *(raw.values for raw in raws)]:
        for key, value in table.items():
            if key.endswith("_file"):
                assert value.startswith(secret_dir + "/"), (key, value)
    assert mounts["organizations"] == _env()["DOCUSIGN_ORGANIZATIONS"]


def test_each_replica_has_its_own_volume_for_the_state_directory():
    statefulset = _one("StatefulSet")
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in _connector()["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == _env()["DOCUSIGN_STATE_DIR"]
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    assert claim["metadata"]["name"] not in {v["name"] for v in volumes}  # not one shared PVC


def test_readiness_is_the_shards_status_and_nothing_restarts_the_connector_for_it():
    connector = _connector()
    assert "livenessProbe" not in connector
    command = connector["readinessProbe"]["exec"]["command"]
    assert command[1:3] == ["status", "--organizations"]
    assert command[3] == _env()["DOCUSIGN_ORGANIZATIONS"]
    assert command[command.index("--shard") + 1] == "auto"
    assert int(command[command.index("--max-lag") + 1]) >= 600
