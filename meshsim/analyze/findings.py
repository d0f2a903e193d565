"""What `meshsim analyze` reports: findings with stable codes, like istioctl's.

A code never changes meaning once released (CI pipelines grep for them); a
new check gets a new code. Where istioctl analyze reports the same thing,
`ISTIOCTL` names its code (docs/analyze.md lists them all).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Level = Literal["error", "warning", "info"]

# code → (level, short name)
CODES: dict[str, tuple[Level, str]] = {
    "MSA101": ("error", "DestinationHostNotFound"),
    "MSA102": ("error", "SubsetNotDefined"),
    "MSA103": ("warning", "DestinationRuleHostNotFound"),
    "MSA104": ("error", "GatewayNotFound"),
    "MSA105": ("warning", "VirtualServiceHostNotFound"),
    "MSA106": ("warning", "SubsetSelectsNoInstance"),
    "MSA107": ("error", "ParentServiceNotFound"),
    "MSA109": ("error", "ConflictingMeshVirtualServiceHosts"),
    "MSA201": ("warning", "RetryAmplification"),
    "MSA202": ("error", "RetryAmplificationExcessive"),
    "MSA203": ("warning", "RetriesExceedRouteTimeout"),
    "MSA204": ("warning", "CallerTimeoutShorterThanCallee"),
    "MSA301": ("warning", "PolicyMissesIngressCalls"),
    "MSA302": ("warning", "OutlierDetectionCanEjectAll"),
    "MSA303": ("warning", "StrictMtlsRefusesLegacyClient"),
    "MSA401": ("warning", "ShadowedRoute"),
    "MSA501": ("warning", "SettleShorterThanDelay"),
}

ISTIOCTL: dict[str, str] = {
    "MSA101": "IST0101 ReferencedResourceNotFound",
    "MSA102": "IST0101 ReferencedResourceNotFound",
    "MSA104": "IST0101 ReferencedResourceNotFound",
    "MSA109": "IST0109 ConflictingMeshGatewayVirtualServiceHosts",
    "MSA401": "IST0131 VirtualServiceIneffectiveMatch",
}


@dataclass(frozen=True)
class Finding:
    """One thing `analyze` found, where it is and what it means."""

    code: str
    phase: str
    resource: str  # "VirtualService/product", "HTTPRoute/shop", "mesh" for the graph
    message: str
    file: str | None = None
    line: int | None = None

    @property
    def level(self) -> Level:
        return CODES[self.code][0]

    @property
    def name(self) -> str:
        return CODES[self.code][1]

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["level"] = self.level
        out["name"] = self.name
        out["phases"] = self.phase.split(", ")  # `phase` says them in one string
        if self.code in ISTIOCTL:
            out["istioctl"] = ISTIOCTL[self.code]
        return out

    def text(self) -> str:
        """One line: `file:line: CODE [phases] resource: message` (the level is the
        console's prefix, or a key of the JSON)."""
        where = self.where()
        return f"{where + ': ' if where else ''}{self.code} [{self.phase}] {self.resource}: {self.message}"


def exit_code(findings: list[Finding], strict: bool = False) -> int:
    """0: no error-level finding (and with `strict`, no warning either); 1 otherwise."""
    failing = ("error", "warning") if strict else ("error",)
    return 1 if any(f.level in failing for f in findings) else 0
