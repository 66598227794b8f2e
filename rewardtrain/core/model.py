"""Loading a backbone as a one-output reward model, and the hardware choices (device, bf16, inference precision).

Example::

    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.model import load_backbone

    model, tokenizer, architecture = load_backbone(TrainConfig())  # the shipped MiniLM, an encoder
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from rewardtrain.core.config import TrainConfig
from rewardtrain.core.encoding import is_encoder_model


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto``: this process's GPU (``LOCAL_RANK`` under torchrun) when CUDA is there, else the CPU."""
    if setting != "auto":
        device = torch.device(setting)
        if device.type == "cuda" and device.index is None:
            # "cuda" alone means this process's GPU; an explicit index is what set_device and DDP need.
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 matrix instructions (AMX or AVX512-BF16), where autocast pays off."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_bf16(setting: str | bool, device: torch.device) -> bool:
    if setting in (True, "on", "true"):
        return True
    if setting in (False, "off", "false"):
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_supports_bf16()


# Padded tokens a forward reads when ``max_tokens_per_forward`` is 0 (auto). On a CPU the cost of a token
# rises with the forward's size once its activations outgrow the caches (eager attention keeps rows x heads x
# width^2 scores): a MiniLM training epoch of Open Assistant rankings at 512 tokens ran 1.65x faster in
# forwards of 1,024 tokens than of 16,384 (1.41x at 2,048); scoring barely cares below ~8,192
# (bench/forward_size.py, docs/BENCHMARKS.md "Forward size on a CPU"). GPUs want large forwards.
CPU_TRAINING_TOKENS_PER_FORWARD = 1024
CPU_SCORING_TOKENS_PER_FORWARD = 4096
GPU_TOKENS_PER_FORWARD = 16384


def resolve_tokens_per_forward(setting: int, device: torch.device, *, training: bool) -> int:
    """The padded-token budget of one forward: ``setting`` when positive, else the device's (see above)."""
    if setting > 0:
        return setting
    if device.type != "cpu":
        return GPU_TOKENS_PER_FORWARD
    return CPU_TRAINING_TOKENS_PER_FORWARD if training else CPU_SCORING_TOKENS_PER_FORWARD


# How a reward model runs at inference (scoring, serving, and the evaluation that ends training):
#   "bf16"          bf16 weights, under bf16 autocast (layer norms, softmax and the like stay fp32);
#   "fp32"          fp32 weights, fp32 math;
#   "fp32-autocast" fp32 weights, matmuls in bf16 autocast: the training forward, and how artifacts that
#                   do not record their inference precision were evaluated.
Precision = Literal["bf16", "fp32", "fp32-autocast"]
PRECISIONS: tuple[str, ...] = ("bf16", "fp32", "fp32-autocast")


def resolve_precision(setting: str, device: torch.device, recorded: str | None = None) -> Precision:
    """The inference precision to use on ``device``.

    ``auto`` follows ``recorded`` (the precision the artifact was evaluated with) where the device runs
    it natively: "bf16" needs a bf16-capable device (CUDA with bf16, a CPU with AMX/AVX512-BF16), else
    fp32. Without a record (older artifacts), the old default: fp32 weights with bf16 autocast where
    supported. An explicit "bf16", "fp32" or "fp32-autocast" is used as given.
    """
    if setting in PRECISIONS:
        return setting  # type: ignore[return-value]
    if setting != "auto":
        raise ValueError(f"unknown inference precision {setting!r}: auto, {', '.join(PRECISIONS)}")
    native_bf16 = resolve_bf16("auto", device)
    if recorded is None:
        return "fp32-autocast" if native_bf16 else "fp32"
    if recorded in ("bf16", "fp32-autocast"):
        return recorded if native_bf16 else "fp32"  # type: ignore[return-value]
    return "fp32"


def inference_model(model: nn.Module, precision: Precision) -> nn.Module:
    """``model`` in eval mode as ``precision`` runs it: itself for fp32 weights, else a bf16 copy whose
    reward head stays fp32 (:func:`reward_head_in_fp32`).

    The copy is made parameter by parameter (the fp32 model is never duplicated in full), so a model
    that has just been trained can be evaluated exactly as it will be served, beside its fp32 weights.
    """
    model.eval()
    if precision != "bf16":
        return model
    head = reward_head(model)
    kept = {id(tensor) for tensor in head.parameters()} if head is not None else set()
    memo: dict[int, object] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point() and id(tensor) not in kept:
            cast = tensor.detach().to(torch.bfloat16)
            memo[id(tensor)] = nn.Parameter(cast, requires_grad=False) if isinstance(tensor, nn.Parameter) else cast
    served = copy.deepcopy(model, memo).eval()  # type: ignore[arg-type]
    reward_head_in_fp32(served)
    return served


# The one-output layer of AutoModelForSequenceClassification: "score" on decoders (Llama, Qwen, GPT-2...),
# "classifier" on encoders (BERT, RoBERTa, DeBERTa, ModernBERT...).
_HEAD_NAMES = ("score", "classifier")


def reward_head(model: nn.Module) -> nn.Module | None:
    """The module that turns the backbone's hidden state into the reward, or None if it has no known name."""
    base = base_model(model)
    for name in _HEAD_NAMES:
        head = getattr(base, name, None)
        if isinstance(head, nn.Module):
            return head
    return None


def reward_head_in_fp32(model: nn.Module) -> bool:
    """Run ``model``'s reward head in fp32, outside autocast, on its input upcast to fp32 (in place).

    A bf16 head rounds every reward to bf16's 8-bit mantissa: two different texts then get the very same
    reward in 1-2 % of pairs (measured on Open Assistant and HH data), and an RL pipeline sees steps
    instead of a scale. The body keeps its bf16 speed; the head is one small matrix. The module tree and
    state dict stay as they were (only the head's ``forward`` is wrapped). False when no head was found.
    """
    head = reward_head(model)
    if head is None:
        return False
    if getattr(head, "_rewardtrain_fp32", False):
        return True
    head.float()
    forward = head.forward

    def fp32_forward(*args: object, **kwargs: object) -> object:
        args = tuple(value.float() if _is_float_tensor(value) else value for value in args)
        kwargs = {name: value.float() if _is_float_tensor(value) else value for name, value in kwargs.items()}
        device_type = next(head.parameters()).device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return forward(*args, **kwargs)

    head.forward = fp32_forward  # type: ignore[method-assign]
    head._rewardtrain_fp32 = True  # type: ignore[assignment]
    return True


def _is_float_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def training_attention(setting: str, device: torch.device) -> str | None:
    """The attention kernel to train with, or None for the model's own default (SDPA where it has one).

    ``auto`` picks eager attention on the CPU: there SDPA's flash-attention backward costs about ten
    times its forward, and a training step of the MiniLM at 128-256 tokens runs 1.5-2x faster with eager
    attention (docs/BENCHMARKS.md). On GPUs the fused kernels win, so the default stays.
    """
    if setting == "auto":
        return "eager" if device.type == "cpu" else None
    return setting


def attention_implementation(model: nn.Module) -> str | None:
    config = getattr(base_model(model), "config", None)
    return getattr(config, "_attn_implementation", None)


def set_attention_implementation(model: nn.Module, implementation: str | None) -> None:
    """Switch the attention kernel in place (same weights, same math up to rounding); None does nothing."""
    base = base_model(model)
    if implementation is None or attention_implementation(base) == implementation:
        return
    base.set_attn_implementation(implementation)


def base_model(model: nn.Module) -> nn.Module:
    """The transformers model itself: ``model``, or the one a peft (LoRA) wrapper holds."""
    get_base = getattr(model, "get_base_model", None)  # a peft (LoRA) wrapper
    return get_base() if callable(get_base) else model


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast: matmuls in bf16, weights and the loss stay fp32."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def disable_dropout(model: nn.Module) -> None:
    """Dropout p=0 everywhere, including attention dropout that some models read from their config."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        for name in ("dropout_prob", "attention_dropout", "dropout"):
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, model: nn.Module | None = None) -> None:
    """Decoders often have no pad token: pad with EOS, and tell the model (it reads the last non-pad token)."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token; set one before training")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    if model is not None:
        model.config.pad_token_id = tokenizer.pad_token_id


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    names = ("transformers.modeling_utils", "transformers.distributed.tensor_parallel")
    loggers = [logging.getLogger(name) for name in names]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.setLevel(level)


def load_backbone(
    config: TrainConfig,
) -> tuple[nn.Module, PreTrainedTokenizerBase, Literal["encoder", "decoder"]]:
    """``AutoModelForSequenceClassification`` from ``config.model`` (directory or hub id) with one output per
    head (``config.output_heads``: the reward is output 0), with the tokenizer, dropout, gradient
    checkpointing and LoRA set as the config says."""
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    model_config = AutoConfig.from_pretrained(config.model, num_labels=config.output_heads)
    if not config.dropout:
        for name, value in model_config.to_dict().items():
            if "dropout" in name and isinstance(value, float):
                setattr(model_config, name, 0.0)
    with quiet_loading():  # a fresh score head is expected; transformers warns about it at length
        model = AutoModelForSequenceClassification.from_pretrained(
            config.model, config=model_config, dtype=torch.float32, ignore_mismatched_sizes=True
        )  # a reward model retrained with other heads gets a fresh score layer
    prepare_tokenizer(tokenizer, model)
    model.config.use_cache = False  # a reward model never generates; decoders would build a KV cache for nothing
    if not config.dropout:
        disable_dropout(model)
    architecture = config.architecture
    if architecture == "auto":
        architecture = "encoder" if is_encoder_model(model.config.model_type) else "decoder"
    if config.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    freeze_lower_layers(model, config.freeze_layers)  # 0 with LoRA (TrainConfig refuses both)
    if config.lora:
        from peft import LoraConfig, TaskType, get_peft_model

        lora_config = LoraConfig(
            task_type=TaskType.SEQ_CLS,  # also trains the new score head in full
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
        )
        model = get_peft_model(model, lora_config)
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
    return model, tokenizer, architecture


def transformer_blocks(model: nn.Module) -> nn.ModuleList | None:
    """The model's stack of transformer layers (BERT's ``encoder.layer``, Llama's ``layers``, GPT-2's ``h``...):
    the module list in its body as long as ``config.num_hidden_layers``; None if there is none."""
    count = getattr(model.config, "num_hidden_layers", None)
    return next((m for m in model.base_model.modules() if isinstance(m, nn.ModuleList) and len(m) == count), None)


def freeze_lower_layers(model: nn.Module, layers: int) -> None:
    """Freeze the input embeddings and the lowest ``layers`` transformer blocks. They get no gradients and no
    optimizer state, and the backward pass stops at the first block that trains (the score head always
    trains). Raises ValueError when the blocks cannot be found or none would be left to train."""
    if layers <= 0:
        return
    blocks = transformer_blocks(model)
    if blocks is None:
        raise ValueError(f"freeze_layers: cannot find the transformer layers of {type(model.base_model).__name__}")
    if layers >= len(blocks):
        raise ValueError(f"freeze_layers ({layers}) must leave at least one of the model's {len(blocks)} layers")
    embeddings = getattr(model.base_model, "embeddings", None)  # BERT-like: words, positions, segments, norm
    for module in (embeddings if embeddings is not None else model.get_input_embeddings(), *blocks[:layers]):
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def max_positions(model: nn.Module) -> int | None:
    """How many positions the model can read (None when it does not say)."""
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None) if config is not None else None
    return int(value) if isinstance(value, int) and value > 0 else None
