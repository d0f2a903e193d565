"""Names and hosts in Istio resources, checked as Kubernetes and Istio check them.

A resource's name becomes part of file paths, Envoy route names and log lines,
and a host becomes an Envoy domain and a cluster name: `metadata.name:
../../tmp/vs` or `hosts: ["product\\nfoo"]` must be an error where it is read,
not a surprise in a file system or a config. The rules are Kubernetes'
(DNS-1123, `k8s.io/apimachinery/pkg/util/validation`) and Istio's
(`pkg/config/validation`: a host is a DNS name, `*` may stand for its first
label).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
# Host names are case-insensitive; Istio lowercases them.
_HOST_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_HOST_LABEL}(\.{_HOST_LABEL})*\.?$")
_WILDCARD_HOST = re.compile(rf"^(\*|(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*\.?)$")


def _resource_name(name: str) -> str:
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid resource name; Kubernetes requires lowercase letters, "
            "digits, '-' and '.', starting and ending with a letter or digit (DNS-1123), "
            "at most 253 characters, e.g. product-canary"
        )
    return name


def _label(name: str) -> str:
    if len(name) > 63 or not DNS1123_LABEL.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid name here; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (DNS-1123 label), at most 63 "
            "characters, e.g. v1"
        )
    return name


def _host(host: str) -> str:
    if len(host) > 255 or not _HOST.fullmatch(host):
        raise ValueError(
            f"{host!r} is not a host name; expected a service (product) or a DNS name "
            "(product.default.svc.cluster.local): letters, digits, '-' and '.'"
        )
    return host


def _wildcard_host(host: str) -> str:
    if len(host) > 255 or not _WILDCARD_HOST.fullmatch(host):
        raise ValueError(
            f"{host!r} is not a host name; expected a service (product), a DNS name "
            "(shop.example.com), '*' or a wildcard such as *.example.com"
        )
    return host


def _gateway_host(host: str) -> str:
    """A Gateway server's host, optionally `namespace/host` (`./`, `*/` included)."""
    namespace, slash, name = host.rpartition("/")
    if slash and namespace not in (".", "*"):
        _label(namespace)
    _wildcard_host(name)
    return host


ResourceName = Annotated[str, AfterValidator(_resource_name)]
NamespaceName = Annotated[str, AfterValidator(_label)]
SubsetName = Annotated[str, AfterValidator(_label)]
Host = Annotated[str, AfterValidator(_host)]
WildcardHost = Annotated[str, AfterValidator(_wildcard_host)]
GatewayHost = Annotated[str, AfterValidator(_gateway_host)]
