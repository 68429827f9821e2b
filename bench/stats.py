"""Latency samples and how a benchmark prints them: each figure beside its same-run baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    count: int

    @classmethod
    def of(cls, samples_s: list[float]) -> Latency:
        ordered = sorted(samples_s)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(statistics.median(ordered) * 1000, p99 * 1000, len(ordered))


def report(name: str, measured: Latency, baseline: Latency, baseline_name: str) -> str:
    return (
        f"{name}: p50 {measured.p50_ms:.2f} ms, p99 {measured.p99_ms:.2f} ms (n={measured.count})\n"
        f"  baseline {baseline_name}: p50 {baseline.p50_ms:.2f} ms, p99 {baseline.p99_ms:.2f} ms\n"
        f"  added: p50 {measured.p50_ms - baseline.p50_ms:+.2f} ms, p99 {measured.p99_ms - baseline.p99_ms:+.2f} ms; "
        f"ratio p50 {measured.p50_ms / baseline.p50_ms:.2f}x"
    )
