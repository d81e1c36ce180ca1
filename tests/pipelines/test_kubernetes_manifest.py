"""examples/kubernetes/docusign-input.yaml, checked offline: every object is valid against the
Kubernetes API schemas (kubernetes-validate ships them, no cluster needed), and the pod meets the
`restricted` Pod Security Standard, so a namespace that enforces it admits the Deployment."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml
from pipeline_support import EXAMPLES_DIR

MANIFEST = EXAMPLES_DIR / "kubernetes" / "docusign-input.yaml"
# The oldest and the newest minor the validator ships schemas for that the manifest targets.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

# The `restricted` profile (kubernetes.io/docs/concepts/security/pod-security-standards), the
# controls a pod spec can break: baseline's plus restricted's own.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod: dict) -> list[str]:
    """What keeps `pod` (a PodSpec) out of a namespace enforcing the restricted profile."""
    found = []
    pod_sc = pod.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            found.append(f"pod: {host}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']}: {sorted(kinds)} not allowed")
    containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
    for c in containers:
        sc, name = c.get("securityContext", {}), c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort")
    return found


def _docs() -> list[dict]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]


def _pod() -> dict:
    [deployment] = [d for d in _docs() if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(version):
    docs = _docs()
    assert {d["kind"] for d in docs} == {"PersistentVolumeClaim", "ConfigMap", "Deployment"}
    for doc in docs:
        # strict: an unknown or misspelt field fails too (kubectl would warn and drop it)
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    [deployment] = [copy.deepcopy(d) for d in _docs() if d["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_pod_meets_the_restricted_pod_security_standard():
    assert restricted_violations(_pod()) == []


def test_the_restricted_check_refuses_what_the_profile_refuses():
    pod = _pod()
    del pod["containers"][1]["securityContext"]
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/var/log"}})
    pod["securityContext"].pop("seccompProfile")
    found = restricted_violations(pod)
    assert any("fluent-bit: allowPrivilegeEscalation" in v for v in found)
    assert any("fluent-bit: capabilities must drop ALL" in v for v in found)
    assert any("volume host" in v for v in found)
    assert any("fluent-bit: seccompProfile" in v for v in found)


def test_readiness_follows_lag_and_nothing_restarts_the_connector_for_it():
    [connector] = [c for c in _pod()["containers"] if c["name"] == "connector"]
    assert "livenessProbe" not in connector and "startupProbe" not in connector
    probe = connector["readinessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["/usr/local/bin/docusign-input", "status"]
    max_lag_s = int(command[command.index("--max-lag") + 1])
    # not ready only when really behind: longer than the default poll interval many times over
    assert max_lag_s >= 600 and probe["timeoutSeconds"] >= 10
