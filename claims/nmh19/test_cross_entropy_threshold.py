"""NMH19 Lemma 2.1: mean cross-entropy < log(2)/N implies zero training error; the threshold is tight."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.functional import cross_entropy

from losslab.seeds import claim_seed

DT = torch.float64


def lemma_bound(N: int) -> float:
    """Lemma 2.1's threshold log(2)/N."""
    return math.log(2) / N


def error_rate(logits, labels):
    return (logits.argmax(1) != labels).double().mean().item()


def near_threshold_case(N, delta):
    """N − 1 samples with margin 60 (loss ≈ e⁻⁶⁰), one 2-class sample whose wrong logit leads by δ:
    its loss is log(1 + e^δ) > log 2, so the mean loss is just above log(2)/N and that sample is wrong."""
    logits = torch.zeros(N, 2, dtype=DT)
    logits[:-1, 0] = 60.0
    logits[-1, 1] = delta
    return logits, torch.zeros(N, dtype=torch.long)


@pytest.mark.claim("NMH19-L21")
def test_loss_below_log2_over_n_means_zero_error(claim, evidence):
    below, seeds = [], []

    @given(N=st.integers(1, 12), classes=st.integers(2, 6), margin=st.floats(0.0, 12.0),
           noise=st.floats(0.01, 3.0), idx=st.integers(0, 10**6))
    def check(N, classes, margin, noise, idx):
        seed = claim_seed("NMH19-L21", idx)
        seeds.append(seed)
        gen = torch.Generator().manual_seed(seed)
        labels = torch.randint(classes, (N,), generator=gen)
        logits = noise * torch.randn(N, classes, generator=gen, dtype=DT)
        logits[torch.arange(N), labels] += margin
        loss = cross_entropy(logits, labels).item()
        if loss < math.log(2) / N:
            below.append(loss * N / math.log(2))
            assert error_rate(logits, labels) == 0, f"loss {loss!r} < log2/N but error > 0"

    try:
        check()
    finally:
        evidence.headline("sampled outputs below log(2)/N (all with zero training error)", len(below))
        evidence.record(measured={"examples below the threshold": len(below)},
                        criterion="every sampled output with mean CE < log(2)/N has training error 0",
                        seeds=seeds, dtype="float64")
    assert len(below) >= claim.threshold("min_examples_below"), "too few examples reached the lemma's hypothesis"


@pytest.mark.claim("NMH19-L21")
def test_threshold_is_tight(claim, evidence):
    N, tightness = 10, claim.threshold("tightness_rel")
    logits, labels = near_threshold_case(N, delta=tightness)
    loss = cross_entropy(logits, labels).item()
    err = error_rate(logits, labels)
    excess = loss / (math.log(2) / N) - 1
    evidence.record(measured={"loss / (log2/N) − 1": excess, "training error": err},
                    criterion="loss above log2/N by < tightness_rel relative, with training error 1/N", dtype="float64")
    assert 0 < excess < tightness and err * N == 1


@pytest.mark.claim("NMH19-L21", control=True)
def test_check_rejects_a_larger_threshold(claim, evidence):
    """With threshold (1 + tightness_rel)·log(2)/N the implication fails on the near-threshold case."""
    N, tightness = 10, claim.threshold("tightness_rel")
    logits, labels = near_threshold_case(N, delta=tightness)
    loss = cross_entropy(logits, labels).item()
    evidence.record(measured={"loss·N/log2": loss * N / math.log(2)}, criterion="implication rejected",
                    removes="the threshold's exact value: log(2)/N raised by tightness_rel")
    evidence.headline("loss·N/log2 of a case with a training error", loss * N / math.log(2))
    assert loss < (1 + tightness) * lemma_bound(N) and error_rate(logits, labels) > 0
