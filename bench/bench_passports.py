"""Passport validation figures, each as a ratio against a baseline measured in the same run.

1. Cold validation of a Passport carrying 10 RS256 Visas (ControlledAccessGrants, pinned JWKS, no decision cache:
   parse, trust, 11 signature checks, claims, grants) vs the physical floor: 11 raw RSA-2048 PKCS#1 v1.5
   SHA-256 verifications of the same signing inputs with ``cryptography``. Target: <= 1.5x.
2. A warm decision-cache hit (in-process cache; the same Passport again). Target: <= 50 us.

Everything runs in this process (no network: keys are pinned). Medians of ``--samples`` runs.

    python bench/bench_passports.py [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.cache.memory import MemoryCache
from gateway.core.egress import OPEN
from gateway.passports.build import build_trust
from gateway.passports.decisions import DecisionCache
from gateway.passports.engine import PassportEngine
from gateway.passports.jose.jws import parse_compact
from gateway.passports.rules.grants import GrantConfig, IssuerGrantRules
from gateway.passports.rules.templates import Template
from gateway.passports.tools.devbroker import DevBroker, KeyRing
from gateway.passports.trust.issuers import trust_hash
from gateway.passports.trust.keys import KeyStore
from gateway.settings.passports import PassportTrustSettings

BROKER = "https://broker.bench.example"
DAC = "https://dac.bench.example"
VISAS = 10


def build(ring: KeyRing, *, cached: bool) -> PassportEngine:
    trust = build_trust(PassportTrustSettings.model_validate({
        "enabled": True,
        "trusted_brokers": [{"issuer": BROKER, "jwks": ring.jwks()}],
        "trusted_visa_issuers": [{"issuer": BROKER, "jwks": ring.jwks(),
                                  "sources": {"ControlledAccessGrants": [DAC]}}],
    }))
    grants = GrantConfig(rules=(IssuerGrantRules(BROKER, DAC, "dbgap", templates=(
        Template("https://dac.bench.example/datasets/{dataset}.{consent}"),)),))
    decisions = DecisionCache(MemoryCache(), trust_hash=trust_hash(trust)) if cached else None
    return PassportEngine(trust, KeyStore(trust, egress=OPEN), grants, decisions=decisions, own_keys=True)


def median_us(values: list[float]) -> float:
    return statistics.median(values) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ring = KeyRing.open(tmp)
        broker = DevBroker(ring, BROKER)
        visas = [broker.controlled_access_grant(sub="researcher", value=f"{DAC}/datasets/phs{n:06d}.c1", source=DAC)
                 for n in range(1, VISAS + 1)]
        token = broker.passport(sub="researcher", visas=visas)
        now = int(time.time())

        cold_engine = build(ring, cached=False)
        evaluation = await cold_engine.evaluate([token], now, use_cache=False)
        assert len(evaluation.grants) == VISAS, evaluation
        cold = []
        for _ in range(args.samples):
            t = time.perf_counter()
            await cold_engine.evaluate([token], now, use_cache=False)
            cold.append(time.perf_counter() - t)

        public = ring.key().private.public_key()
        signed = [parse_compact(t, max_bytes=1 << 20, algorithms=("RS256",)) for t in [token, *visas]]
        floor = []
        for _ in range(args.samples):
            t = time.perf_counter()
            for p in signed:
                public.verify(p.signature, p.signing_input, padding.PKCS1v15(), hashes.SHA256())
            floor.append(time.perf_counter() - t)

        warm_engine = build(ring, cached=True)
        await warm_engine.evaluate([token], now)  # fills the decision cache
        warm = []
        for _ in range(args.samples):
            t = time.perf_counter()
            hit = await warm_engine.evaluate([token], now)
            warm.append(time.perf_counter() - t)
        assert hit.cached and len(hit.grants) == VISAS
        await cold_engine.aclose()
        await warm_engine.aclose()

    c, f, w = median_us(cold), median_us(floor), median_us(warm)
    print(f"1. cold validation, passport + {VISAS} RS256 visas: {c:8.0f} us | {VISAS + 1} raw RSA verifications "
          f"{f:8.0f} us | ratio {c / f:.2f} (target <= 1.5)")
    print(f"2. warm decision-cache hit: {w:6.1f} us (target <= 50 us)")


if __name__ == "__main__":
    asyncio.run(main())
