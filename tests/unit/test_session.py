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


@pytest.mark.parametrize("name,value", [
    ("HTTPS_PROXY", "http://proxy.example:3128"),
    ("https_proxy", "http://proxy.example:3128"),
    ("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"),
])
def test_a_proxy_or_bundle_variable_keeps_requests_reading_it(clean, name, value):
    clean.setenv(name, value)
    session = new_session()
    assert session.trust_env is True
    settings = session.merge_environment_settings("https://account.docusign.com/oauth/token",
                                                  {}, None, None, None)
    if "PROXY" in name.upper():
        assert settings["proxies"]["https"] == value
    else:
        assert settings["verify"] == value
