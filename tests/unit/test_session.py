"""The HTTP session reads the proxy and CA-bundle variables once: with none set, requests is told
not to re-read the whole environment on every request (a third of an idle poll's CPU); with one
set, it keeps honouring it per request (NO_PROXY included)."""

from __future__ import annotations

import pytest

from docusign_input.lifecycle import new_session

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE",
                   "CURL_CA_BUNDLE")


@pytest.fixture
def clean(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_without_proxy_or_bundle_variables_the_environment_is_not_reread(clean):
    session = new_session()
    assert session.trust_env is False
    calls = []
    clean.setattr("requests.sessions.get_environ_proxies",
                  lambda *a, **k: calls.append(a) or {})
    settings = session.merge_environment_settings("https://account.docusign.com/oauth/token",
                                                  {}, None, None, None)
    assert calls == [] and settings["proxies"] == {}


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_variable_is_read_once_and_kept(clean, name):
    clean.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
    session = new_session()
    assert session.trust_env is False
    settings = session.merge_environment_settings("https://account.docusign.com/oauth/token",
                                                  {}, None, None, None)
    assert settings["verify"] == "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy"])
def test_a_proxy_variable_keeps_requests_reading_it_with_no_proxy(clean, name):
    clean.setenv(name, "http://proxy.example:3128")
    clean.setenv("NO_PROXY", "lens.docusign.net")
    session = new_session()
    assert session.trust_env is True
    proxied = session.merge_environment_settings("https://account.docusign.com/oauth/token",
                                                 {}, None, None, None)
    assert proxied["proxies"]["https"] == "http://proxy.example:3128"
    direct = session.merge_environment_settings("https://lens.docusign.net/x", {}, None, None,
                                                None)
    assert "https" not in direct["proxies"]
