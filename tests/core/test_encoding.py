"""The truncation rule keeps what it promises, for encoders (text pair) and decoders (chat template)."""

from __future__ import annotations

import itertools
import logging

import pytest
from transformers import AutoTokenizer

from rewardtrain.core.config import default_model_path
from rewardtrain.core.encoding import SequenceEncoder, fit_to_budget, is_encoder_model
from tests.core.conftest import build_word_tokenizer


@pytest.mark.parametrize(
    ("context", "prompt", "completion", "budget"),
    list(itertools.product([0, 3, 9], [1, 4, 12], [1, 5, 14], [4, 9, 16])),
)
def test_fit_to_budget_cuts_the_context_start_first_then_shares_the_rest(context, prompt, completion, budget):
    c, p, r = list(range(100, 100 + context)), list(range(200, 200 + prompt)), list(range(300, 300 + completion))
    kept_context, kept_prompt, kept_completion = fit_to_budget(c, p, r, budget)
    total = len(kept_context) + len(kept_prompt) + len(kept_completion)
    assert total == min(budget, context + prompt + completion)  # nothing is dropped, the budget is used
    assert kept_context == c[len(c) - len(kept_context) :]  # context: a suffix
    assert kept_prompt == p[len(p) - len(kept_prompt) :]  # prompt: its end
    assert kept_completion == r[: len(kept_completion)]  # completion: its start
    assert len(kept_completion) >= min(completion, budget - budget // 2)
    assert len(kept_prompt) >= min(prompt, budget // 2)
    if kept_context:  # context survives only when prompt and completion are whole
        assert (kept_prompt, kept_completion) == (p, r)


@pytest.fixture(scope="module")
def bert_tokenizer():
    return AutoTokenizer.from_pretrained(default_model_path())


def test_the_encoder_reads_context_and_prompt_then_the_completion(bert_tokenizer):
    encoder = SequenceEncoder(bert_tokenizer, architecture="encoder", max_length=64)
    (sequence,) = encoder.encode([{"role": "user", "text": "earlier question"}], "what is two plus two", ["four"])
    text = bert_tokenizer.decode(sequence.input_ids)
    assert text == "[CLS] user : earlier question what is two plus two [SEP] four [SEP]"
    assert sequence.token_type_ids == [0] * 11 + [1, 1]


def test_an_overlong_encoder_input_keeps_the_prompt_end_and_the_completion_start(bert_tokenizer):
    encoder = SequenceEncoder(bert_tokenizer, architecture="encoder", max_length=24)
    context = [{"role": "user", "text": "old " * 50}]
    prompt = "start " + "middle " * 30 + "prompt end"
    completion = "completion start " + "filler " * 40 + "completion end"
    (sequence,) = encoder.encode(context, prompt, [completion])
    words = bert_tokenizer.decode(sequence.input_ids).split()
    assert len(sequence) == 24
    assert "old" not in words  # the context went first
    assert words[1:3] != ["start", "middle"] and words[words.index("[SEP]") - 2 :][:2] == ["prompt", "end"]
    assert words[words.index("[SEP]") + 1 : words.index("[SEP]") + 3] == ["completion", "start"]
    assert "end" not in words[words.index("[SEP]") + 1 :]


def test_a_short_prompt_leaves_the_room_to_the_completion(bert_tokenizer):
    encoder = SequenceEncoder(bert_tokenizer, architecture="encoder", max_length=20)
    (sequence,) = encoder.encode([{"role": "assistant", "text": "x " * 30}], "short", ["word " * 40])
    words = bert_tokenizer.decode(sequence.input_ids).split()
    assert words[:3] == ["[CLS]", "short", "[SEP]"] and len(sequence) == 20


def test_raw_texts_keep_their_end(bert_tokenizer):
    encoder = SequenceEncoder(bert_tokenizer, architecture="encoder", max_length=8)
    (sequence,) = encoder.encode_texts(["one two three four five six seven eight nine"])
    assert bert_tokenizer.decode(sequence.input_ids) == "[CLS] four five six seven eight nine [SEP]"


def test_the_decoder_uses_the_chat_template_and_truncates_the_same_way():
    tokenizer = build_word_tokenizer()
    encoder = SequenceEncoder(tokenizer, architecture="decoder", max_length=64)
    context = [{"role": "user", "text": "w1 w2"}, {"role": "assistant", "text": "w3"}]
    (sequence,) = encoder.encode(context, "w4 w5", ["great w6"])
    assert tokenizer.decode(sequence.input_ids) == (
        "<|user|> w1 w2 </s> <|assistant|> w3 </s> <|user|> w4 w5 </s> <|assistant|> great w6 </s>"
    )
    short = SequenceEncoder(tokenizer, architecture="decoder", max_length=10)
    (cut,) = short.encode(context, "w4 w5", ["great w6 w7 w8 w9 w10 w11 w12"])
    # the whole prompt piece (5 tokens, under half the budget) stays; the completion gets the other half
    assert tokenizer.decode(cut.input_ids) == "<|user|> w4 w5 </s> <|assistant|> great w6 w7 w8 w9"


def test_a_decoder_without_chat_template_gets_a_plain_rendering():
    tokenizer = build_word_tokenizer()
    tokenizer.chat_template = None
    encoder = SequenceEncoder(tokenizer, architecture="decoder", max_length=64)
    (sequence,) = encoder.encode([], "w4", ["w6"])
    assert tokenizer.decode(sequence.input_ids) == "User : w4 Assistant : w6"


def test_encoders_are_told_apart_from_decoders():
    assert is_encoder_model("bert") and is_encoder_model("roberta")
    assert not is_encoder_model("llama") and not is_encoder_model("gpt2")


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("architecture", ["encoder", "decoder"])
def test_long_texts_are_cut_while_tokenizing_and_raise_no_length_warning(architecture):
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())  # fresh: transformers warns once per tokenizer
    assert tokenizer.model_max_length == 512
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=128)
    context = [{"role": "user", "text": "old turn " * 400}]
    prompt = "prompt start " + "middle " * 700 + "prompt end"
    completions = ["completion start " + "filler " * 700 + "completion end", "short reply"]
    warnings = _Warnings()
    logging.getLogger("transformers").addHandler(warnings)
    try:
        sequences = encoder.encode(context, prompt, completions)
        texts = encoder.encode_texts(["text start " + "word " * 900 + "text end"])
    finally:
        logging.getLogger("transformers").removeHandler(warnings)
    assert not [message for message in warnings.messages if "sequence length is longer" in message]
    # The same sequences as tokenizing in full and cutting afterwards (what the code did before).
    pieces = encoder.render(context, prompt, completions)
    full = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in [pieces[0], pieces[1], *pieces[2]]]
    assert [s.input_ids for s in sequences] == [encoder._assemble(full[0], full[1], ids).input_ids for ids in full[2:]]
    whole = tokenizer("text start " + "word " * 900 + "text end", add_special_tokens=False)["input_ids"]
    budget = 128 - encoder.special.single_overhead
    assert texts[0].input_ids == encoder.special.single_prefix + whole[-budget:] + encoder.special.single_suffix
    assert all(len(sequence) <= 128 for sequence in [*sequences, *texts])
    # The check has teeth: tokenizing in full is what warns.
    logging.getLogger("transformers").addHandler(warnings)
    try:
        AutoTokenizer.from_pretrained(default_model_path())(prompt, add_special_tokens=False)
    finally:
        logging.getLogger("transformers").removeHandler(warnings)
    assert [message for message in warnings.messages if "sequence length is longer" in message]
