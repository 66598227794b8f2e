"""From (context, prompt, completion) to token ids, with the truncation rule the product promises.

Encoders (BERT-like) read a text pair: segment A is the rendered context then the prompt, segment B the
completion (``[CLS] context prompt [SEP] completion [SEP]``). Decoders read one sequence: the
tokenizer's chat template when it has one, else a plain ``User: ...\\n\\nAssistant: ...`` rendering.

Truncation never drops an example (TRL drops what is over ``max_length``). When the pieces do not
fit, :func:`fit_to_budget` cuts in this order:

1. the context, from its start (the oldest turns go first);
2. then prompt and completion share the budget: the prompt keeps its END, the completion its START,
   and each is guaranteed at least half the budget (or all of itself if it is shorter).

Example::

    from rewardtrain.core.encoding import fit_to_budget

    fit_to_budget(context=[1, 2, 3], prompt=[4, 5], completion=[6, 7, 8], budget=6)
    # ([3], [4, 5], [6, 7, 8]): only the oldest context tokens went
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from transformers import PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

_ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System"}


def fit_to_budget(
    context: list[int], prompt: list[int], completion: list[int], budget: int
) -> tuple[list[int], list[int], list[int]]:
    """Cut (context, prompt, completion) token lists to at most ``budget`` tokens in total.

    Guarantees: the completion keeps its first ``min(len(completion), budget - budget // 2)`` tokens or
    more; the prompt keeps its last ``min(len(prompt), budget // 2)`` tokens or more; context is only
    cut from its start, and only when prompt + completion + context do not fit.
    """
    if len(context) + len(prompt) + len(completion) <= budget:
        return context, prompt, completion
    room_for_context = budget - len(prompt) - len(completion)
    if room_for_context > 0:
        return context[len(context) - room_for_context :], prompt, completion
    prompt_keep = min(len(prompt), max(budget - len(completion), budget // 2))
    completion_keep = budget - prompt_keep
    return [], prompt[len(prompt) - prompt_keep :], completion[:completion_keep]


def is_encoder_model(model_type: str) -> bool:
    """Encoders are the model types that have a masked-LM head (BERT, RoBERTa, DeBERTa, ModernBERT...)."""
    return model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES


@dataclass
class EncodedSequence:
    input_ids: list[int]
    token_type_ids: list[int] | None = None  # only for tokenizers that use them (BERT)

    def __len__(self) -> int:
        return len(self.input_ids)


def _find(haystack: list[int], needle: list[int], start: int = 0) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    raise ValueError("probe tokens not found in the tokenizer's output")


@dataclass
class _SpecialTokens:
    """The special tokens a tokenizer wraps around one or two segments, learnt by probing it once.

    transformers 5 tokenizers no longer expose ``build_inputs_with_special_tokens``, and we need to add
    the special tokens to id lists we truncated ourselves.
    """

    single_prefix: list[int]
    single_suffix: list[int]
    pair_prefix: list[int]
    pair_middle: list[int]
    pair_suffix: list[int]
    # token type of each part, in order: prefix, A, middle, B, suffix (None when the tokenizer has none)
    pair_types: tuple[int, int, int, int, int] | None

    @classmethod
    def probe(cls, tokenizer: PreTrainedTokenizerBase) -> _SpecialTokens:
        a = tokenizer("hello", add_special_tokens=False)["input_ids"]
        b = tokenizer("world", add_special_tokens=False)["input_ids"]
        single = tokenizer("hello")["input_ids"]
        i = _find(single, a)
        pair_encoding = tokenizer("hello", "world")
        pair = pair_encoding["input_ids"]
        j = _find(pair, a)
        k = _find(pair, b, j + len(a))
        types = pair_encoding.get("token_type_ids")
        pair_types = None
        if types is not None and "token_type_ids" in tokenizer.model_input_names:
            pair_types = (types[0], types[j], types[j + len(a)] if k > j + len(a) else types[j], types[k], types[-1])
        return cls(single[:i], single[i + len(a) :], pair[:j], pair[j + len(a) : k], pair[k + len(b) :], pair_types)

    @property
    def pair_overhead(self) -> int:
        return len(self.pair_prefix) + len(self.pair_middle) + len(self.pair_suffix)

    @property
    def single_overhead(self) -> int:
        return len(self.single_prefix) + len(self.single_suffix)


class SequenceEncoder:
    """Turns records into token id sequences of at most ``max_length`` tokens. Thread-safe.

    ``architecture`` is "encoder" (text pair) or "decoder" (one sequence, chat template if any).
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, *, architecture: Literal["encoder", "decoder"], max_length: int
    ) -> None:
        self.tokenizer = tokenizer
        self.architecture = architecture
        self.max_length = max_length
        self.special = _SpecialTokens.probe(tokenizer)
        self.use_chat_template = architecture == "decoder" and bool(getattr(tokenizer, "chat_template", None))
        # Fast tokenizers raise "Already borrowed" when two threads encode at once; a lock is cheap here.
        self._lock = threading.Lock()

    def _ids(self, texts: list[str], *, keep: Literal["start", "end"]) -> list[list[int]]:
        """Token ids of ``texts``, each cut to ``max_length`` tokens on the side :func:`fit_to_budget` drops.

        No piece is ever kept beyond ``max_length`` (the budget is smaller), so cutting here gives the very
        sequences cutting afterwards would, and the tokenizer's "Token indices sequence length is longer
        than the specified maximum" warning appears only when a sequence really would be too long.
        """
        if not texts:
            return []
        with self._lock:
            side = self.tokenizer.truncation_side
            self.tokenizer.truncation_side = "right" if keep == "start" else "left"
            try:
                return self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=self.max_length)[
                    "input_ids"
                ]
            finally:
                self.tokenizer.truncation_side = side

    # --- rendering ---------------------------------------------------------------------------------

    def render(self, context: list[dict[str, str]], prompt: str, completions: list[str]) -> tuple[str, str, list[str]]:
        """The three text pieces (context, prompt, completions) before tokenization."""
        if self.use_chat_template:
            pieces = self._render_chat(context, prompt, completions)
            if pieces is not None:
                return pieces
        if self.architecture == "encoder":
            context_text = "".join(f"{_ROLE_LABELS[turn['role']]}: {turn['text']}\n" for turn in context)
            return context_text, prompt, completions
        context_text = "".join(f"{_ROLE_LABELS[turn['role']]}: {turn['text']}\n\n" for turn in context)
        return context_text, f"User: {prompt}\n\nAssistant: ", completions

    def _render_chat(
        self, context: list[dict[str, str]], prompt: str, completions: list[str]
    ) -> tuple[str, str, list[str]] | None:
        """Cut the chat template's rendering into pieces; None if the template does not render prefixes
        as prefixes (then the plain rendering is used)."""
        messages = [{"role": turn["role"], "content": turn["text"]} for turn in context]
        asked = [*messages, {"role": "user", "content": prompt}]

        def apply(conversation: list[dict[str, str]], generation_prompt: bool) -> str:
            with self._lock:
                text: Any = self.tokenizer.apply_chat_template(
                    conversation, tokenize=False, add_generation_prompt=generation_prompt
                )
            return text

        try:
            head = apply(asked, True)
            fulls = [apply([*asked, {"role": "assistant", "content": text}], False) for text in completions]
            context_text = apply(messages, False) if messages else ""
        except Exception:  # templates may reject a conversation shape (e.g. context opening with assistant)
            return None
        if not all(full.startswith(head) for full in fulls):
            return None
        if not head.startswith(context_text):
            context_text = ""  # the context stays inside the prompt piece and is cut from its start with it
        return context_text, head[len(context_text) :], [full[len(head) :] for full in fulls]

    # --- encoding ----------------------------------------------------------------------------------

    def encode(self, context: list[dict[str, str]], prompt: str, completions: list[str]) -> list[EncodedSequence]:
        """One sequence per completion, each within ``max_length`` (see :func:`fit_to_budget`)."""
        context_text, prompt_text, completion_texts = self.render(context, prompt, completions)
        context_ids, prompt_ids = self._ids([context_text, prompt_text], keep="end")
        completion_ids = self._ids(completion_texts, keep="start")
        return [self._assemble(context_ids, prompt_ids, ids) for ids in completion_ids]

    def _assemble(self, context_ids: list[int], prompt_ids: list[int], completion_ids: list[int]) -> EncodedSequence:
        special = self.special
        if self.architecture == "encoder":
            budget = self.max_length - special.pair_overhead
            context_kept, prompt_kept, completion_kept = fit_to_budget(context_ids, prompt_ids, completion_ids, budget)
            first = context_kept + prompt_kept
            ids = special.pair_prefix + first + special.pair_middle + completion_kept + special.pair_suffix
            types = None
            if special.pair_types is not None:
                prefix_type, a_type, middle_type, b_type, suffix_type = special.pair_types
                types = (
                    [prefix_type] * len(special.pair_prefix)
                    + [a_type] * len(first)
                    + [middle_type] * len(special.pair_middle)
                    + [b_type] * len(completion_kept)
                    + [suffix_type] * len(special.pair_suffix)
                )
            return EncodedSequence(ids, types)
        # A chat template writes its own special tokens as text; the plain rendering gets the tokenizer's.
        prefix, suffix = ([], []) if self.use_chat_template else (special.single_prefix, special.single_suffix)
        budget = self.max_length - len(prefix) - len(suffix)
        context_kept, prompt_kept, completion_kept = fit_to_budget(context_ids, prompt_ids, completion_ids, budget)
        return EncodedSequence(prefix + context_kept + prompt_kept + completion_kept + suffix)

    def encode_texts(self, texts: list[str]) -> list[EncodedSequence]:
        """Raw full texts (prompt and response already joined, as OpenRLHF sends them).

        The text is one segment; when too long its START is cut, because the response is at the end.
        """
        special = self.special
        prefix, suffix = special.single_prefix, special.single_suffix
        budget = self.max_length - len(prefix) - len(suffix)
        out = []
        for ids in self._ids(texts, keep="end"):
            kept = ids[max(0, len(ids) - budget) :]
            types = None
            if special.pair_types is not None:
                types = [special.pair_types[0]] * (len(prefix) + len(kept) + len(suffix))
            out.append(EncodedSequence(prefix + kept + suffix, types))
        return out


class TokenLengths:
    """Token lengths of exported sequences as TRL's RewardTrainer tokenizes them, for an export's metadata.

    TRL appends the tokenizer's EOS to each text, tokenizes ``prompt + completion`` with the special
    tokens, and silently drops a pair when either side is over its ``max_length`` (default 1024, more
    than a 512-position encoder can read). An item is one pair (its longer side) or one completion::

        lengths = TokenLengths(tokenizer, max_positions=512)
        lengths.add("User: hi\\n\\nAssistant: hello", "User: hi\\n\\nAssistant: no")  # one pair
        lengths.summary()["max"]
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, *, max_positions: int | None, batch: int = 512) -> None:
        self.tokenizer = tokenizer
        self.max_positions = max_positions
        self.batch = batch
        self.eos = tokenizer.eos_token or ""
        self.lengths: list[int] = []
        self._pending: list[tuple[str, ...]] = []
        self._known: dict[str, int] = {}  # a completion recurs in the K-1 pairs of its ranking

    def add(self, *texts: str) -> None:
        self._pending.append(texts)
        if len(self._pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if len(self._known) > 8 * self.batch:
            self._known.clear()
        unknown = list(dict.fromkeys(text for item in self._pending for text in item if text not in self._known))
        if unknown:
            # verbose=False: measuring a text longer than the model reads is the point, not a mistake.
            ids = self.tokenizer([text + self.eos for text in unknown], verbose=False)["input_ids"]
            self._known.update(zip(unknown, map(len, ids), strict=True))
        self.lengths.extend(max(self._known[text] for text in item) for item in self._pending)
        self._pending.clear()

    def summary(self) -> dict[str, Any]:
        """Count, percentiles and maximum of the item lengths; how many items TRL drops at each max_length."""
        self._flush()
        ordered = sorted(self.lengths)

        def percentile(share: float) -> int | None:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None

        limits = sorted({256, 512, 1024, 2048, *([self.max_positions] if self.max_positions else [])})
        over = {str(limit): sum(length > limit for length in ordered) for limit in limits}
        return {
            "items": len(ordered),
            "p50": percentile(0.5),
            "p90": percentile(0.9),
            "p99": percentile(0.99),
            "max": ordered[-1] if ordered else None,
            "max_positions": self.max_positions,
            "over_max_positions": over.get(str(self.max_positions)) if self.max_positions else None,
            "over_length": over,
        }
