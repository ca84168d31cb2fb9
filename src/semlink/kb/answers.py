"""A query's answer from the knowledge base: the predicted class and the neighbours, as text or JSON.

Prediction rules (:data:`PREDICTION_RULES`):

- ``"majority"``: the label most frequent among the ``k`` neighbours; a tie goes to the tied label
  whose best-ranked neighbour is nearest (so ``k = 1`` is the nearest neighbour's label).
- ``"nearest"``: the nearest neighbour's label.

>>> import torch
>>> found = torch.tensor([[2, 1, 1, 2, 0], [4, 3, -1, -1, -1]])   # labels of the 5 nearest items
>>> predict_labels(found, "majority")            # row 0: 1 and 2 tie at 2 votes; 2 is nearer
(tensor([2, 4]), tensor([2, 1]))
>>> predict_labels(found, "nearest")
(tensor([2, 4]), tensor([2, 1]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from semlink.bridge import describe
from semlink.errors import SemlinkError, choice_error
from semlink.kb.labels import LabelSet

PREDICTION_RULES = ("majority", "nearest")
_DISTANCE_MEANING = {
    "l2": "squared L2 distance, smaller is closer",
    "ip": "inner product, larger is closer",
}


def predict_labels(result_labels: torch.Tensor, rule: str = "majority") -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted [Q] int64, votes [Q] int64)`` from the neighbours' labels ``[Q, k]`` (best first).

    ``votes`` counts the neighbours carrying the predicted label. Missing neighbours (label ``-1``)
    never vote; a query without any neighbour is predicted ``-1`` with 0 votes.
    """
    if rule not in PREDICTION_RULES:
        raise choice_error("prediction rule", rule, PREDICTION_RULES)
    found = torch.as_tensor(result_labels)
    if found.dim() != 2 or found.shape[1] < 1 or found.is_floating_point():
        raise SemlinkError(f"result_labels must be [Q, k] integer labels with k >= 1; got {describe(found)}")
    found = found.to(torch.int64)
    k = found.shape[1]
    present = found >= 0
    # votes[q, j]: neighbours of query q sharing neighbour j's label (0 for a missing neighbour)
    votes = ((found[:, :, None] == found[:, None, :]) & present[:, None, :]).sum(dim=2) * present
    if rule == "nearest":
        pick = torch.zeros(found.shape[0], dtype=torch.int64, device=found.device)
    else:  # most votes first, then the nearest rank: rank j scores votes * (k + 1) - j
        pick = (votes * (k + 1) - torch.arange(k, device=found.device)[None, :]).argmax(dim=1)
    winners = votes.gather(1, pick[:, None])[:, 0]
    predicted = found.gather(1, pick[:, None])[:, 0]
    predicted = torch.where(winners > 0, predicted, torch.full_like(predicted, -1))
    return predicted, winners


def answers_table(
    names: Sequence[str],
    result: Any,
    predicted: torch.Tensor,
    votes: torch.Tensor,
    label_set: LabelSet,
    metric: str,
    rule: str,
    truth: torch.Tensor | None = None,
) -> str:
    """Text for people: per query a line with the predicted class, then a table of its neighbours.

    ``result`` is a :class:`~semlink.kb.SearchResult` for the queries called ``names`` (one per
    row); ``truth`` their true labels (or None).
    """
    k = int(result.labels.shape[1])
    how = "majority of the" if rule == "majority" else "label of the nearest of the"
    lines = [f"prediction: {how} {k} nearest item(s); distance: {_DISTANCE_MEANING[metric]}"]
    width = max([5, *(len(label_set.class_name(int(lab)) or "?") for lab in result.labels.flatten())])
    for q, name in enumerate(names):
        pred = int(predicted[q])
        said = "no neighbour found" if pred < 0 else (
            f"predicted {_class_text(label_set, pred)}, {int(votes[q])} of {k} neighbours"
        )
        if truth is not None:
            said += f"; true class {_class_text(label_set, int(truth[q]))}"
        lines += ["", f"{name}: {said}", f"  {'rank':>4}  {'class':<{width}}  {'label':>5}  {'distance':>10}  {'id':>8}"]
        for j in range(k):
            label, item = int(result.labels[q, j]), int(result.ids[q, j])
            if int(result.indices[q, j]) < 0:
                lines.append(f"  {j + 1:>4}  (fewer than {k} items found)")
                break
            cls = label_set.class_name(label) or "?"
            lines.append(
                f"  {j + 1:>4}  {cls:<{width}}  {label:>5}  {float(result.distances[q, j]):>10.4f}  {item:>8}"
            )
    return "\n".join(lines)


def answers_json(
    names: Sequence[str],
    result: Any,
    predicted: torch.Tensor,
    votes: torch.Tensor,
    label_set: LabelSet,
    truth: torch.Tensor | None = None,
) -> list[dict[str, Any]]:
    """The same answers as :func:`answers_table`, as JSON-ready dicts (class names None where unknown)."""
    out = []
    for q, name in enumerate(names):
        neighbours = [
            {
                "rank": j + 1,
                "row": int(result.indices[q, j]),
                "id": int(result.ids[q, j]),
                "label": int(result.labels[q, j]),
                "class": label_set.class_name(int(result.labels[q, j])),
                "distance": float(result.distances[q, j]),
            }
            for j in range(int(result.labels.shape[1]))
            if int(result.indices[q, j]) >= 0
        ]
        entry: dict[str, Any] = {
            "query": name,
            "predicted_label": int(predicted[q]),
            "predicted_class": label_set.class_name(int(predicted[q])),
            "votes": int(votes[q]),
            "neighbours": neighbours,
        }
        if truth is not None:
            entry["true_label"] = int(truth[q])
            entry["true_class"] = label_set.class_name(int(truth[q]))
        out.append(entry)
    return out


def _class_text(label_set: LabelSet, label: int) -> str:
    name = label_set.class_name(label)
    return f"{name} (label {label})" if name is not None else f"label {label} (class name unknown)"
