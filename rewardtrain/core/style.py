"""Style features of a completion (length and Markdown), standardised, for length-controlled training.

Chatbot Arena's style control explains a preference by content *and* style: the logit of "a beats b" is
``r(a) - r(b) + beta . (s(a) - s(b))`` where ``s`` are a few style features and ``beta`` is fitted beside the
model. The model's reward ``r`` is then what is left once style has been accounted for. The features:

- ``log_length``: log(1 + characters);
- ``headers``, ``list_items``, ``bold``: log(1 + count) of Markdown header lines (``# ...``), list items
  (``- ...``, ``* ...``, ``1. ...``) and bold spans (``**...**``, ``__...__``).

Each is standardised with the mean and spread of the training completions (:class:`StyleScaler`, saved in
the artifact), so ``beta`` reads as "logit per standard deviation".

Example::

    from rewardtrain.core.style import StyleScaler, style_features

    scaler = StyleScaler.fit([style_features(text) for text in training_completions])
    scaler.transform(style_features("# Title\\n- one\\n- two"))  # [z_length, z_headers, z_lists, z_bold]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STYLE_FEATURES = ("log_length", "headers", "list_items", "bold")

_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_features(text: str) -> list[float]:
    """The raw (unstandardised) features of one completion, in :data:`STYLE_FEATURES` order."""
    return [
        math.log1p(len(text)),
        math.log1p(len(_HEADER.findall(text))),
        math.log1p(len(_LIST_ITEM.findall(text))),
        math.log1p(len(_BOLD.findall(text))),
    ]


@dataclass(frozen=True)
class StyleScaler:
    """Per-feature mean and standard deviation; a feature that never varies is left at 0."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, rows: Sequence[Sequence[float]]) -> StyleScaler:
        if not rows:
            raise ValueError("no completions to fit the style features on")
        columns = list(zip(*rows, strict=True))
        mean = tuple(sum(column) / len(column) for column in columns)
        std = tuple(
            math.sqrt(sum((value - m) ** 2 for value in column) / len(column))
            for column, m in zip(columns, mean, strict=True)
        )
        return cls(mean, std)

    def transform(self, row: Sequence[float]) -> list[float]:
        return [(value - m) / s if s > 0 else 0.0 for value, m, s in zip(row, self.mean, self.std, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(STYLE_FEATURES), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StyleScaler:
        if list(values.get("features", [])) != list(STYLE_FEATURES):
            raise ValueError(f"the artifact's style features {values.get('features')} are not {list(STYLE_FEATURES)}")
        return cls(tuple(values["mean"]), tuple(values["std"]))
