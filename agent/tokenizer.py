"""The 3D-LLM's tokenizer: a byte-level BPE trained offline in code, with special and location tokens.

``train_tokenizer`` trains a byte-level BPE with the ``tokenizers`` library (ByteLevel pre-tokenizer
and decoder, the 256 byte symbols always in the alphabet, so any UTF-8 text encodes without unknown
tokens and decodes back to itself), adds ``SPECIAL_TOKENS`` and the location tokens
``<loc0>``..``<loc{B-1}>`` (``agent.location_codec``) as single, never-split tokens, and wraps it as a
``transformers.PreTrainedTokenizerFast`` that ``save_pretrained`` / ``AutoTokenizer.from_pretrained``
round-trip from a local folder. Nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from agent.location_codec import DEFAULT_BINS, LOCATION_TOKEN, location_token_names

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SCENE = "<scene>"
"""Marks where the 3D feature prefix goes in a prompt."""
PLAN = "<plan>"
"""Marks the start of the model's answer (the plan)."""
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK, SCENE, PLAN)
"""Special tokens, in id order (ids 0..5 of a trained tokenizer)."""


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 2048, location_bins: int = DEFAULT_BINS
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and return it with special and location tokens added.

    ``vocab_size`` is the size of the BPE vocabulary, counting ``SPECIAL_TOKENS`` and the 256 byte
    symbols; the ``location_bins`` location tokens come on top (``len(tokenizer) <= vocab_size +
    location_bins``; smaller when the texts allow few merges). Special and location tokens in the
    training texts are cut out before training, so no merges are spent on their pieces. The same
    texts give the same tokenizer. No BOS/EOS are added on encoding; the prompt builder places them.
    """
    names = location_token_names(location_bins)
    minimum = len(pre_tokenizers.ByteLevel.alphabet()) + len(SPECIAL_TOKENS)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(
            f"train_tokenizer: vocab_size must be an integer >= {minimum} (256 byte symbols + "
            f"{len(SPECIAL_TOKENS)} special tokens), got {vocab_size!r}"
        )
    backend = Tokenizer(models.BPE(unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    counted = _Counted(texts)
    backend.train_from_iterator(counted, trainer=trainer)
    if counted.count == 0:
        raise ValueError("train_tokenizer: texts is empty; give at least one training sentence")
    # Location tokens are ordinary (not special) added tokens: never split, never stripped by
    # decode(skip_special_tokens=True), since they carry the answer.
    backend.add_tokens([AddedToken(name, special=False, normalized=False) for name in names])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        # transformers 5 reads this as extra_special_tokens; 4.x knows only this name
        additional_special_tokens=[SCENE, PLAN],
        clean_up_tokenization_spaces=False,
        add_bos_token=False,
        add_eos_token=False,
    )


def location_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of ``<loc0>``..``<loc{B-1}>`` in bin order, B found from the tokenizer's vocabulary.

    For constraining decoding to location tokens. A ValueError when the tokenizer has no location
    tokens or a gap in them (``<loc0>``..``<loc{B-1}>`` must all be there).
    """
    found = {int(m.group(1)): i for token, i in tokenizer.get_vocab().items() if (m := LOCATION_TOKEN.fullmatch(token))}
    if not found:
        raise ValueError(
            "tokenizer has no location tokens <loc0>, <loc1>, ...; train it with agent.tokenizer.train_tokenizer"
        )
    bins = max(found) + 1
    missing = [k for k in range(bins) if k not in found]
    if missing:
        raise ValueError(
            f"tokenizer's location tokens have gaps: <loc{bins - 1}> is there but "
            f"{', '.join(f'<loc{k}>' for k in missing[:5])}{' ...' if len(missing) > 5 else ''} are missing"
        )
    return [found[k] for k in range(bins)]


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, bins: int) -> None:
    """Raise a ValueError unless ``tokenizer`` has exactly the location tokens for ``bins`` bins per axis,
    each encoding to one id, and the ``SPECIAL_TOKENS`` as single ids.

    Use it after loading a tokenizer for a model whose config gives ``bins`` (e.g. a tokenizer trained
    with 32 bins beside a model configured for 64).
    """
    names = location_token_names(bins)
    vocab = tokenizer.get_vocab()
    missing_special = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing_special:
        raise ValueError(
            f"tokenizer lacks the special tokens {missing_special}; train it with agent.tokenizer.train_tokenizer"
        )
    try:
        ids = location_token_ids(tokenizer)
    except ValueError as exc:
        raise ValueError(f"tokenizer does not fit a model with {bins} location bins: {exc}") from exc
    if len(ids) != bins:
        raise ValueError(
            f"tokenizer has {len(ids)} location tokens (<loc0>..<loc{len(ids) - 1}>) but the model expects {bins} "
            f"bins; train the tokenizer with location_bins={bins} or set the model's bins to {len(ids)}"
        )
    for name, expected in zip(names, ids):
        got = tokenizer.encode(name, add_special_tokens=False)
        if got != [expected]:
            raise ValueError(
                f"tokenizer splits the location token {name} into {got} instead of the single id {expected}; "
                f"add it as a tokenizers.AddedToken"
            )
    for token in SPECIAL_TOKENS:
        got = tokenizer.encode(token, add_special_tokens=False)
        if got != [vocab[token]]:
            raise ValueError(f"tokenizer splits the special token {token} into {got} instead of one id")


class _Counted:
    """An iterator over the training texts that counts them and cuts special and location tokens out."""

    _CUT = re.compile("|".join([re.escape(t) for t in SPECIAL_TOKENS] + [r"<loc[0-9]+>"]))

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = iter(texts)
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        text = next(self._texts)
        if not isinstance(text, str):
            raise TypeError(f"train_tokenizer: texts must be strings, got {type(text).__name__}")
        self.count += 1
        return self._CUT.sub(" ", text)
