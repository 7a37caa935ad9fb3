"""The 3D-LLM tokenizer: byte-level BPE trained in code; special and location tokens are single ids."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from agent.location_codec import LocationCodec, location_token_names
from agent.tokenizer import SPECIAL_TOKENS, check_tokenizer, location_token_ids, train_tokenizer
from tests.agent.corpus import WORDS, sentences_with_locations


def _corpus(n: int = 2000, seed: int = 0) -> list[str]:
    return sentences_with_locations(n, seed, max_words=10)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(_corpus(), vocab_size=512, location_bins=64)


def _ids(tok, text):
    return tok.encode(text, add_special_tokens=False)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_text_round_trips(tokenizer, text):
    ids = _ids(tokenizer, text)
    assert tokenizer.unk_token_id not in ids or "<unk>" in text
    assert tokenizer.decode(ids) == text


PIECES = st.one_of(
    st.sampled_from(location_token_names(64) + list(SPECIAL_TOKENS) + WORDS + [" ", "<", ">", "loc", "<loc", "."]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(PIECES, max_size=12))
def test_mixed_text_round_trips_with_location_tokens_whole(tokenizer, pieces):
    text = "".join(pieces)
    ids = _ids(tokenizer, text)
    assert tokenizer.decode(ids) == text
    loc_ids = location_token_ids(tokenizer)
    found = [loc_ids.index(i) for i in ids if i in loc_ids]
    assert found == [k for k in map(int, re.findall(r"<loc(0|[1-9][0-9]*)>", text)) if k < 64]


def test_location_tokens_are_single_ids(tokenizer):
    loc_ids = location_token_ids(tokenizer)
    assert len(loc_ids) == 64 and len(set(loc_ids)) == 64
    assert tokenizer.convert_ids_to_tokens(loc_ids) == location_token_names(64)
    ids = _ids(tokenizer, "go to<loc1><loc2><loc3>.")
    assert ids[-4:-1] == [loc_ids[1], loc_ids[2], loc_ids[3]]
    assert tokenizer.decode(ids) == "go to<loc1><loc2><loc3>."
    spaced = _ids(tokenizer, "go to <loc10> <loc20> <loc63> now")
    assert [i for i in spaced if i in loc_ids] == [loc_ids[10], loc_ids[20], loc_ids[63]]
    for name, i in zip(location_token_names(64), loc_ids):
        assert _ids(tokenizer, name) == [i]
    # the codec's tokens go through the tokenizer and back
    codec = LocationCodec((0, 0, 0), (8, 3, 8))
    tokens = codec.encode_point([1.0, 2.0, 3.0])
    text = tokenizer.decode(_ids(tokenizer, "walk to " + "".join(tokens)))
    assert codec.parse_location_tokens(text) == [codec.bin_of(v, a).item() for a, v in enumerate([1.0, 2.0, 3.0])]
    # location tokens are not special: skip_special_tokens keeps them
    assert tokenizer.decode(_ids(tokenizer, "<bos>at<loc5><eos>"), skip_special_tokens=True) == "at<loc5>"


def test_special_tokens_are_single_ids(tokenizer):
    assert SPECIAL_TOKENS[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and {"<scene>", "<plan>"} <= set(SPECIAL_TOKENS)
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == SPECIAL_TOKENS[:4]
    for token in SPECIAL_TOKENS:
        assert _ids(tokenizer, token) == [tokenizer.convert_tokens_to_ids(token)]
    ids = _ids(tokenizer, "<bos><scene>where is the lamp?<plan>go<eos>")
    assert ids[:2] == tokenizer.convert_tokens_to_ids(["<bos>", "<scene>"]) and ids[-1] == tokenizer.eos_token_id
    assert tokenizer("go to the door")["input_ids"] == _ids(tokenizer, "go to the door")  # no BOS/EOS added


def test_save_and_load_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "<bos><scene>find the chair<plan>go to<loc1><loc2><loc3> then <loc60> x<eos>"
    assert _ids(loaded, text) == _ids(tokenizer, text)
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert location_token_ids(loaded) == location_token_ids(tokenizer)
    assert (loaded.pad_token_id, loaded.bos_token_id, loaded.eos_token_id, loaded.unk_token_id) == (
        tokenizer.pad_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.unk_token_id,
    )
    check_tokenizer(loaded, 64)


def test_training_is_fast_and_deterministic(tokenizer):
    start = time.perf_counter()
    again = train_tokenizer(_corpus(), vocab_size=512, location_bins=64)
    assert time.perf_counter() - start < 2.0
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    assert len(again) <= 512 + 64


def test_check_tokenizer_rejects_a_bins_mismatch(tokenizer):
    small = train_tokenizer(_corpus(200), vocab_size=300, location_bins=32)
    check_tokenizer(small, 32)
    assert len(location_token_ids(small)) == 32
    with pytest.raises(ValueError, match="32 location tokens.*expects 64"):
        check_tokenizer(small, 64)
    with pytest.raises(ValueError, match="64 location tokens.*expects 32"):
        check_tokenizer(tokenizer, 32)


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["hello"], vocab_size=100)
    with pytest.raises(ValueError, match="bins"):
        train_tokenizer(["hello"], location_bins=1)
    with pytest.raises(ValueError, match="empty"):
        train_tokenizer([])
