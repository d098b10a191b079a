"""Every HTTP client a run builds verifies HTTPS as httpx does by default, through one TLS context per process:
httpx would load and parse the whole CA bundle again for each client (~20 ms of CPU each)."""

from __future__ import annotations

import ssl

import certifi
import httpx

from steward.integrations.sources import http
from steward.integrations.sources.http import HttpLayer, tls_context


def test_the_clients_share_one_verifying_context_per_certificate_setting(monkeypatch):
    built = []
    real = httpx.create_ssl_context

    def counting(*args, **kwargs):
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    monkeypatch.setattr(http, "_TLS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    layers = [HttpLayer("hubspot", "https://api.hubapi.com") for _ in range(3)]
    try:
        assert len(built) == 1  # not one per client
        context = tls_context()
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded: HTTPS is verified as by default
        # a certificate bundle named in the environment (a corporate proxy's CA) is honoured, as httpx honours it
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        HttpLayer("salesforce", "https://login.salesforce.com").close()
        assert len(built) == 2 and tls_context() is not context
        monkeypatch.delenv("SSL_CERT_FILE")
        assert tls_context() is context
    finally:
        for layer in layers:
            layer.close()
