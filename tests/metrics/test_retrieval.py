"""top_k_accuracy and binomial_ci against hand-computed and published values."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import semlink.metrics.intervals
import semlink.metrics.retrieval
from semlink.errors import SemlinkError
from semlink.metrics import binomial_ci, top_k_accuracy, top_k_hits


def test_top_k_accuracy_by_hand() -> None:
    found = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0]])
    truth = torch.tensor([1, 6, 5, 0])
    assert top_k_accuracy(found, truth, k=1) == 0.5
    assert top_k_accuracy(found, truth, k=2) == 0.5
    assert top_k_accuracy(found, truth, k=3) == 0.75
    assert top_k_accuracy(found, truth) == 0.75  # k defaults to all columns
    assert top_k_hits(found, truth, 3).tolist() == [True, True, False, True]
    assert top_k_accuracy(found.numpy(), truth.numpy().astype(np.int32), k=1) == 0.5


def test_missing_results_never_match() -> None:
    assert top_k_accuracy(torch.tensor([[-1, -1]]), torch.tensor([3])) == 0.0


@pytest.mark.parametrize(
    "found, truth, k, match",
    [
        (
            torch.zeros(4, 3, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            4,
            r"k must be an integer in \[1, 3\]",
        ),
        (
            torch.zeros(4, 3, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            0,
            r"k must be an integer in \[1, 3\]",
        ),
        (
            torch.zeros(4, 3, dtype=torch.long),
            torch.zeros(5, dtype=torch.long),
            1,
            r"query_labels must be \[Q\] with Q=4",
        ),
        (
            torch.zeros(4, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            1,
            r"result_labels must be \[Q, k\]",
        ),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 1, "integer class labels"),
        (torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long), 1, "at least one query"),
    ],
)
def test_top_k_accuracy_refusals(found, truth, k, match) -> None:
    with pytest.raises(SemlinkError, match=match):
        top_k_accuracy(found, truth, k=k)


def test_wilson_known_values() -> None:
    # Wilson score interval for 8/10 at 95 %: 0.4902 .. 0.9433 (Newcombe 1998, Table I method 3)
    low, high = binomial_ci(8, 10)
    assert low == pytest.approx(0.490162, abs=1e-5) and high == pytest.approx(0.943318, abs=1e-5)
    assert binomial_ci(0, 10)[0] == 0.0 and binomial_ci(10, 10)[1] == 1.0


def test_clopper_pearson_known_values() -> None:
    low, high = binomial_ci(8, 10, method="clopper-pearson")
    assert low == pytest.approx(0.443904, abs=1e-5) and high == pytest.approx(0.974789, abs=1e-5)
    # closed form at zero successes: upper = 1 - (alpha/2)^(1/n)
    assert binomial_ci(0, 20, method="clopper-pearson") == pytest.approx((0.0, 1 - 0.025 ** (1 / 20)))


@pytest.mark.parametrize("k, n, conf", [(0, 7, 0.9), (3, 7, 0.95), (123, 400, 0.99), (400, 400, 0.95)])
def test_against_scipy(k, n, conf) -> None:
    stats = pytest.importorskip("scipy.stats")
    res = stats.binomtest(k, n)
    for method, scipy_method in (("wilson", "wilson"), ("clopper-pearson", "exact")):
        ci = res.proportion_ci(confidence_level=conf, method=scipy_method)
        assert binomial_ci(k, n, conf, method) == pytest.approx((ci.low, ci.high), abs=1e-9)


@pytest.mark.parametrize(
    "args, match",
    [
        ((5, 0), r"n >= 1"),
        ((11, 10), r"0 <= successes <= n"),
        ((-1, 10), r"0 <= successes <= n"),
        ((1.5, 10), "integer counts"),
        ((1, 10, 1.0), r"confidence must lie in \(0, 1\)"),
        ((1, 10, 0.95, "agresti"), "unknown confidence-interval method 'agresti'"),
    ],
)
def test_binomial_ci_refusals(args, match) -> None:
    with pytest.raises(SemlinkError, match=match):
        binomial_ci(*args)


@pytest.mark.parametrize("module", [semlink.metrics.retrieval, semlink.metrics.intervals])
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
