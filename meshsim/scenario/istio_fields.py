"""Istio's own field names, per object: what tells a typo from a field
meshsim does not implement.

meshsim's models (`meshsim.scenario.istio`, `istio_security`) reject any key
they do not read. Such a key is either a real Istio field that meshsim lacks
("spec.http[0].corsPolicy: not supported by meshsim") or no Istio field at
all, usually a typo ("spec.hostt: unknown field 'hostt'; did you mean
'host'?"). To tell them apart, `ISTIO_FIELDS` lists, for each object meshsim
models, every field Istio's API has there: camelCase as YAML writes them,
from Istio's v1 CRD schemas (networking.istio.io VirtualService,
DestinationRule, Gateway; security.istio.io PeerAuthentication,
AuthorizationPolicy, RequestAuthentication; Kubernetes' ObjectMeta for `metadata`).

Keys are the meshsim model classes (Istio's message name in the comment when
it differs); an object meshsim does not model at all (corsPolicy, redirect,
tls, ...) needs no list: it is rejected whole, by name, at its parent.
tests/control/test_istio_fields.py checks that every field meshsim reads is
in these lists. `ISTIO_CONDITION_KEYS` does the same for an
AuthorizationPolicy's `when` keys.
"""

from __future__ import annotations


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


ISTIO_FIELDS: dict[str, frozenset[str]] = {
    # every kind: the Kubernetes object
    "Resource": _fields("apiVersion kind metadata spec status"),
    "Metadata": _fields(  # Kubernetes ObjectMeta
        "name generateName namespace selfLink uid resourceVersion generation "
        "creationTimestamp deletionTimestamp deletionGracePeriodSeconds labels annotations "
        "ownerReferences finalizers managedFields"
    ),
    # ------------------------------------------------------ VirtualService
    "VirtualServiceSpec": _fields("hosts gateways http tls tcp exportTo"),
    "HTTPRoute": _fields(
        "name match route redirect directResponse delegate rewrite timeout retries fault "
        "mirror mirrors mirrorPercentage mirrorPercent mirror_percent corsPolicy headers"
    ),
    "HTTPMatchRequest": _fields(
        "name uri scheme method authority headers port sourceLabels gateways queryParams "
        "ignoreUriCase withoutHeaders sourceNamespace statPrefix"
    ),
    "StringMatch": _fields("exact prefix regex"),
    "HTTPRouteDestination": _fields("destination weight headers"),
    "Destination": _fields("host subset port"),
    "PortSelector": _fields("number"),
    "Headers": _fields("request response"),
    "HeaderOperations": _fields("set add remove"),
    "HTTPRetry": _fields(
        "attempts perTryTimeout retryOn retryRemoteLocalities retryIgnorePreviousHosts backoff"
    ),
    "HTTPFaultInjection": _fields("delay abort"),
    "FaultDelay": _fields("fixedDelay exponentialDelay percentage percent"),  # ...Injection.Delay
    "FaultAbort": _fields("httpStatus grpcStatus http2Error percentage"),  # ...Injection.Abort
    "Percent": _fields("value"),
    "HTTPRewrite": _fields("uri authority uriRegexRewrite"),
    "HTTPRedirect": _fields("uri authority port derivePort scheme redirectCode"),
    "HTTPDirectResponse": _fields("status body"),
    "HTTPBody": _fields("string bytes"),
    "RegexRewrite": _fields("match rewrite"),
    "HTTPMirrorPolicy": _fields("destination percentage"),
    # ----------------------------------------------------- DestinationRule
    "DestinationRuleSpec": _fields("host trafficPolicy subsets exportTo workloadSelector"),
    "Subset": _fields("name labels trafficPolicy"),
    "TrafficPolicy": _fields(
        "loadBalancer connectionPool outlierDetection tls portLevelSettings tunnel "
        "proxyProtocol retryBudget"
    ),
    "LoadBalancer": _fields(  # LoadBalancerSettings
        "simple consistentHash localityLbSetting warmupDurationSecs warmup"
    ),
    "ClientTLSSettings": _fields(
        "mode clientCertificate privateKey caCertificates credentialName subjectAltNames sni "
        "insecureSkipVerify caCrl"
    ),
    "PortTrafficPolicy": _fields(  # TrafficPolicy.PortTrafficPolicy
        "port loadBalancer connectionPool outlierDetection tls"
    ),
    "ConnectionPool": _fields("tcp http"),  # ConnectionPoolSettings
    "ConnectionPoolTCP": _fields(  # ConnectionPoolSettings.TCPSettings
        "maxConnections connectTimeout tcpKeepalive maxConnectionDuration idleTimeout"
    ),
    "ConnectionPoolHTTP": _fields(  # ConnectionPoolSettings.HTTPSettings
        "http1MaxPendingRequests http2MaxRequests maxRequestsPerConnection maxRetries "
        "idleTimeout h2UpgradePolicy useClientProtocol maxConcurrentStreams"
    ),
    "OutlierDetection": _fields(
        "splitExternalLocalOriginErrors consecutiveLocalOriginFailures consecutiveGatewayErrors "
        "consecutive5xxErrors interval baseEjectionTime maxEjectionPercent minHealthPercent "
        "consecutiveErrors"
    ),
    # ------------------------------------------------------------- Gateway
    "GatewaySpec": _fields("selector servers"),
    "GatewayServer": _fields("port bind hosts tls name defaultEndpoint"),  # Server
    # -------------------------------------------------- PeerAuthentication
    "PeerAuthenticationSpec": _fields("selector mtls portLevelMtls"),
    "MutualTLS": _fields("mode"),
    "WorkloadSelector": _fields("matchLabels"),
    # ------------------------------------------------- AuthorizationPolicy
    "AuthorizationPolicySpec": _fields("selector targetRef targetRefs rules action provider"),
    "Rule": _fields("from to when"),
    "RuleFrom": _fields("source"),  # Rule.From
    "RuleTo": _fields("operation"),  # Rule.To
    "Source": _fields(
        "principals notPrincipals requestPrincipals notRequestPrincipals namespaces "
        "notNamespaces serviceAccounts notServiceAccounts ipBlocks notIpBlocks "
        "remoteIpBlocks notRemoteIpBlocks"
    ),
    "Operation": _fields("hosts notHosts ports notPorts methods notMethods paths notPaths"),
    "Condition": _fields("key values notValues"),
    # ----------------------------------------------- RequestAuthentication
    "RequestAuthenticationSpec": _fields("selector targetRef targetRefs jwtRules"),
    "JWTRule": _fields(
        "issuer audiences jwksUri jwks fromHeaders fromParams outputPayloadToHeader "
        "fromCookies forwardOriginalToken outputClaimToHeaders timeout"
    ),
    "JWTHeader": _fields("name prefix"),
    "ClaimToHeader": _fields("header claim"),
}

# The keys an AuthorizationPolicy `when` may test (Istio's "Authorization Policy
# Conditions" reference); `request.headers[...]`, `request.auth.claims[...]` and
# `experimental.envoy.filters.*` take a name of their own.
ISTIO_CONDITION_KEYS = (
    "request.headers[<name>]",
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "request.auth.claims[<name>]",
    "destination.ip",
    "destination.port",
    "connection.sni",
    "experimental.envoy.filters.<filter>",
)
