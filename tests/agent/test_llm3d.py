"""The 3D-LLM model: scene encoder, soft prefix, loss masking, constrained generation, save/load."""

import json
import math
import re
import sys

import numpy as np
import pytest
import torch

from agent.constraints import BoxOrderProcessor, LocationGrammar, LocationGroupProcessor
from agent.llm3d import (
    IGNORE,
    LocalLM,
    SmallLlama,
    ThreeDLLM,
    ThreeDLLMConfig,
    answer_loss,
    extend_tokenizer,
    ordered_embeddings,
)
from agent.location_codec import LocationCodec
from agent.scene_encoder import PerceiverBlock, PositionEmbedding3D, SceneEncoder, SceneEncoderConfig, codec_bounds, pad_scenes
from agent.tokenizer import train_tokenizer
from tests.agent.corpus import sentences_with_locations

C = 16  # feature channels of the tiny test scenes
K = 8  # queries
CODEC = LocationCodec((-5.0, 0.0, -4.0), (5.0, 3.0, 4.0), bins=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _corpus(n: int = 50, seed: int = 0) -> list[str]:
    return sentences_with_locations(n, seed, max_words=8)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(_corpus(), vocab_size=400, location_bins=64)


def _config(lm=None, bins_codec=CODEC) -> ThreeDLLMConfig:
    encoder = SceneEncoderConfig(feature_dim=C, dim=32, queries=K, layers=1, heads=2, frequencies=4)
    lm = lm or SmallLlama(hidden=64, layers=2, heads=2, intermediate=128, max_positions=128)
    return ThreeDLLMConfig(encoder, bins_codec, lm)


@pytest.fixture(scope="module")
def model(tokenizer):
    return ThreeDLLM(_config(), tokenizer, seed=0).eval()


def _scenes(b: int = 2, n: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(CODEC.lower), torch.tensor(CODEC.upper)
    points = lo + torch.rand(b, n, 3, generator=g) * (hi - lo)  # (B, N, 3) metres
    features = torch.nn.functional.normalize(torch.randn(b, n, C, generator=g), dim=-1)  # (B, N, C)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1:, n // 2 :] = False  # the second scene has fewer points
    return points, features, mask


PROMPTS = ["go to the kitchen", "find a chair near the sofa"]
ANSWERS = ["walk to the door <loc3><loc40><loc7>.", "open the lamp"]


# -- position embedding and scene encoder -----------------------------------------------------------


def test_position_embedding_formula_shape_and_distinct_points():
    pe = PositionEmbedding3D(CODEC.lower, CODEC.upper, frequencies=4)
    pts = torch.tensor([CODEC.lower, CODEC.upper, [0.0, 1.5, 0.0], [1.0, 1.5, 0.0]])  # (4, 3)
    emb = pe(pts)  # (4, 24)
    assert emb.shape == (4, 24) == (4, pe.out_dim)
    per_axis = emb.view(4, 3, 2, 4)  # (point, axis, sin/cos, frequency)
    # the lower corner is u = 0 on every axis: sin 0, cos 1
    assert torch.allclose(per_axis[0, :, 0], torch.zeros(3, 4), atol=1e-6)
    assert torch.allclose(per_axis[0, :, 1], torch.ones(3, 4), atol=1e-6)
    # the upper corner is u = 1: cos(2^k pi) is -1 for k = 0, +1 above
    assert torch.allclose(per_axis[1, :, 1], torch.tensor([-1.0, 1.0, 1.0, 1.0]).expand(3, 4), atol=1e-5)
    # the centre on x is u = 0.5: sin(2^k pi / 2) for k = 0..3
    u = 0.5
    expected = torch.tensor([math.sin(2**k * math.pi * u) for k in range(4)])
    assert torch.allclose(per_axis[2, 0, 0], expected, atol=1e-5)
    assert not torch.allclose(emb[2], emb[3])  # 1 m apart on x
    with pytest.raises(ValueError, match="upper > lower"):
        PositionEmbedding3D((0, 0, 0), (1, 0, 1))


def test_encoder_output_shape_and_padding_is_hidden():
    encoder = SceneEncoder(SceneEncoderConfig(feature_dim=C, dim=32, queries=K, layers=2, heads=4), CODEC.lower, CODEC.upper, 48)
    encoder.eval()
    points, features, _ = _scenes(b=2, n=10)
    out = encoder(points, features)  # (B, K, H)
    assert out.shape == (2, K, 48)
    # the same scenes with 6 junk padded points (huge values, NaN) appended
    junk_pts = torch.cat([points, torch.full((2, 6, 3), 1e6)], dim=1)
    junk_feats = torch.cat([features, torch.full((2, 6, C), float("nan"))], dim=1)
    mask = torch.cat([torch.ones(2, 10, dtype=torch.bool), torch.zeros(2, 6, dtype=torch.bool)], dim=1)
    padded = encoder(junk_pts, junk_feats, mask)
    assert torch.allclose(out, padded, atol=1e-5)
    # a scene with no valid points still gives a finite prefix
    empty = encoder(points, features, torch.zeros(2, 10, dtype=torch.bool))
    assert torch.isfinite(empty).all()
    # the points matter
    assert not torch.allclose(out, encoder(points.flip(1) * 0.5, features))


def test_perceiver_cross_attention_is_its_multihead_attention_module():
    torch.manual_seed(0)
    block = PerceiverBlock(dim=32, heads=4, mlp_ratio=2, dropout=0.0)
    q, kv = torch.randn(2, 5, 32, requires_grad=True), torch.randn(2, 9, 32)
    ignore = torch.zeros(2, 9, dtype=torch.bool)
    ignore[1, 6:] = True  # the second scene's last three keys are padding
    expected = block.cross(q, kv, kv, key_padding_mask=ignore, need_weights=False)[0]
    got = block.cross_attend(q, kv, ignore)
    assert torch.allclose(got, expected, atol=1e-6)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), q)
    (grad_got,) = torch.autograd.grad(got.square().sum(), q)
    assert torch.allclose(grad_got, grad_expected, atol=1e-5)
    # padded keys do not count
    kv_junk = kv.clone()
    kv_junk[1, 6:] = 1e3
    assert torch.allclose(block.cross_attend(q, kv_junk, ignore), got, atol=1e-6)


def test_encoder_shape_errors_name_the_shapes():
    encoder = SceneEncoder(SceneEncoderConfig(feature_dim=C, dim=32, queries=K, layers=1, heads=2), CODEC.lower, CODEC.upper, 16)
    points, features, mask = _scenes()
    with pytest.raises(ValueError, match=r"\(B, N, 3\).*\(2, 24, 2\)"):
        encoder(points[..., :2], features)
    with pytest.raises(ValueError, match=r"\(2, 23, 16\)"):
        encoder(points, features[:, :23])
    with pytest.raises(ValueError, match="5 channels"):
        encoder(points, features[..., :5])
    with pytest.raises(ValueError, match="point_mask"):
        encoder(points, features, mask[:, :3])
    with pytest.raises(ValueError, match="heads=3 must divide dim=32"):
        SceneEncoderConfig(feature_dim=C, dim=32, heads=3)


def test_pad_scenes_batches_numpy_maps():
    a = (np.ones((3, 3), np.float32), np.ones((3, C), np.float32))
    b = (np.zeros((5, 3), np.float32), np.zeros((5, C), np.float32))
    points, features, mask = pad_scenes([a, b])
    assert points.shape == (2, 5, 3) and features.shape == (2, 5, C)
    assert mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    with pytest.raises(ValueError, match="different feature sizes"):
        pad_scenes([a, (np.zeros((2, 3)), np.zeros((2, 4)))])


# -- prompt layout, loss, gradients --------------------------------------------------------------


def test_labels_cover_only_the_answer_and_eos(model, tokenizer):
    batch = model.encode_batch(PROMPTS, ANSWERS)  # right padded
    vocab = tokenizer.get_vocab()
    for row, (prompt, answer) in enumerate(zip(PROMPTS, ANSWERS)):
        ids = batch.input_ids[row][batch.attention_mask[row].bool()].tolist()
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        answer_ids = tokenizer.encode(answer, add_special_tokens=False) + [vocab["<eos>"]]
        assert ids == [vocab["<bos>"], vocab["<scene>"]] + [vocab["<pad>"]] * K + prompt_ids + [vocab["<plan>"]] + answer_ids
        labels = batch.labels[row].tolist()
        assert [t for t in labels if t != IGNORE] == answer_ids
        assert labels[: len(ids) - len(answer_ids)] == [IGNORE] * (len(ids) - len(answer_ids))  # bos scene prefix prompt plan
        slots = batch.scene_slots[row].nonzero().flatten().tolist()
        assert slots == list(range(2, 2 + K))
    assert (batch.labels[batch.attention_mask == 0] == IGNORE).all()
    assert batch.position_ids[1].tolist()[: int(batch.attention_mask[1].sum())] == list(range(int(batch.attention_mask[1].sum())))
    left = model.encode_batch(PROMPTS)  # generation: left padded, every prompt ends with <plan>
    assert (left.input_ids[:, -1] == vocab["<plan>"]).all() and (left.labels == IGNORE).all()
    with pytest.raises(ValueError, match="special token"):
        model.encode_batch(["go <plan> now"])


def test_forward_loss_and_gradients_reach_encoder_and_lm(tokenizer):
    model = ThreeDLLM(_config(), tokenizer, seed=1)
    points, features, mask = _scenes()
    out = model(points, features, mask, PROMPTS, ANSWERS)
    assert out.logits.shape[:2] == out.batch.input_ids.shape and out.logits.shape[2] >= len(tokenizer)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.encoder.queries.grad.abs().sum() > 0
    assert model.encoder.feature_proj.weight.grad.abs().sum() > 0
    assert model.lm.get_input_embeddings().weight.grad.abs().sum() > 0
    assert model.lm.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_a_few_steps_on_one_example_reduce_the_loss(tokenizer):
    model = ThreeDLLM(_config(), tokenizer, seed=2).train()
    points, features, mask = _scenes(b=1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(points, features, mask, PROMPTS[:1], ANSWERS[:1]).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_answer_loss_is_cross_entropy_without_smoothing_and_forgives_near_bins_with_it():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 12, generator=g)  # (B, L, V); ids 4..11 are 8 location bins
    labels = torch.tensor([[IGNORE, 3, 5, IGNORE, IGNORE], [IGNORE, 9, 2, 6, IGNORE]])
    plain = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE)
    locations = list(range(4, 12))
    assert torch.allclose(answer_loss(logits, labels, locations, 0.0), plain)
    # one location label (bin 3, id 7): a confident guess one bin off beats one five bins off
    one = torch.tensor([[IGNORE, 7]])
    near, far = torch.full((1, 2, 12), -10.0), torch.full((1, 2, 12), -10.0)
    near[0, 0, 4 + 4] = 10.0  # bin 4: one bin off
    far[0, 0, 4 + 0] = 10.0  # bin 0: three bins off
    far_loss, near_loss = answer_loss(far, one, locations, 1.0), answer_loss(near, one, locations, 1.0)
    assert near_loss < far_loss
    assert torch.isclose(answer_loss(near, one, locations, 0.0), answer_loss(far, one, locations, 0.0))  # one-hot: equally wrong


def test_location_tokens_start_with_embeddings_ordered_by_bin(tokenizer):
    cos = torch.nn.functional.cosine_similarity
    fars = []
    for seed in range(20):  # a random linear map: the far cosine varies around 0 from draw to draw
        rows = ordered_embeddings(64, 32, 0.02, generator=torch.Generator().manual_seed(seed))
        assert rows.shape == (64, 32) and 0.01 < float(rows.std()) < 0.04
        near, far = cos(rows[:-1], rows[1:], dim=1).mean(), cos(rows[:32], rows[32:], dim=1).mean()  # 1 and 32 bins apart
        assert float(near) > 0.9
        fars.append(abs(float(far)))
    assert sum(fars) / len(fars) < 0.15
    again = ordered_embeddings(64, 32, 0.02, generator=torch.Generator().manual_seed(19))
    assert torch.equal(again, rows)
    model = ThreeDLLM(_config(), tokenizer, seed=0)
    emb = model.lm.get_input_embeddings().weight[model.location_ids]  # (64, H), as built
    near, far = cos(emb[:-1], emb[1:], dim=1).mean(), cos(emb[:32], emb[32:], dim=1).mean()
    assert float(near) > 0.3 and float(near) > float(far) + 0.3


def test_the_scene_prefix_changes_the_logits(model):
    points, features, mask = _scenes(b=2, seed=3)
    other_points, other_features, _ = _scenes(b=2, seed=4)
    a = model(points, features, mask, PROMPTS, ANSWERS).logits
    b = model(other_points, other_features, mask, PROMPTS, ANSWERS).logits
    text = slice(2 + K, None)  # positions after the prefix
    assert not torch.allclose(a[:, text], b[:, text])
    # while the positions before the prefix (<bos>, <scene>) cannot see it
    assert torch.allclose(a[:, :2], b[:, :2], atol=1e-5)


def test_per_scene_bounds_make_the_prefix_translation_invariant(model):
    points, features, mask = _scenes(b=2, seed=5)
    lo, hi = torch.tensor(CODEC.lower), torch.tensor(CODEC.upper)
    bounds = torch.stack([lo, hi]).expand(2, 2, 3).clone()  # (B, 2, 3)
    # default bounds = the config codec's box
    assert torch.allclose(model.prefix(points, features, mask), model.prefix(points, features, mask, bounds), atol=1e-6)
    # each scene moved by its own offset, its bounds moved alike: the same prefix and logits
    shift = torch.tensor([[[30.0, -2.0, 7.5]], [[-12.0, 4.0, -40.0]]])  # (B, 1, 3) metres
    moved = model.prefix(points + shift, features, mask, bounds + shift)
    assert torch.allclose(model.prefix(points, features, mask), moved, atol=1e-4)
    a = model(points, features, mask, PROMPTS, ANSWERS).logits
    b = model(points + shift, features, mask, PROMPTS, ANSWERS, bounds=bounds + shift).logits
    assert torch.allclose(a, b, atol=1e-4)
    # moved without its bounds it is another scene
    assert not torch.allclose(model.prefix(points, features, mask), model.prefix(points + shift, features, mask), atol=1e-3)
    # generation uses the bounds too
    assert model.generate(points, features, mask, PROMPTS, max_new_tokens=5) == model.generate(
        points + shift, features, mask, PROMPTS, max_new_tokens=5, bounds=bounds + shift
    )
    with pytest.raises(ValueError, match=r"\(B, 2, 3\)"):
        model.prefix(points, features, mask, bounds[:1])
    with pytest.raises(ValueError, match="upper > lower"):
        model.prefix(points, features, mask, bounds.flip(1))


def test_codec_bounds_stacks_lower_and_upper():
    other = LocationCodec((0.0, 0.0, 0.0), (1.0, 2.0, 3.0), bins=64)
    bounds = codec_bounds([CODEC, other])
    assert bounds.shape == (2, 2, 3) and bounds.dtype == torch.float32
    assert bounds[1].tolist() == [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    assert bounds[0, 0].tolist() == list(CODEC.lower)


def test_batch_and_shape_errors(model):
    points, features, mask = _scenes()
    with pytest.raises(ValueError, match=r"2 channels.*feature_dim=16"):
        model(points, features[..., :2], mask, PROMPTS)
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        model(points[0], features, mask, PROMPTS)
    with pytest.raises(ValueError, match="1 prompts for 2 scenes"):
        model(points, features, mask, PROMPTS[:1])


# -- generation ----------------------------------------------------------------------------------


def test_generation_returns_deterministic_strings(model):
    points, features, mask = _scenes()
    first = model.generate(points, features, mask, PROMPTS, max_new_tokens=8)
    second = model.generate(points, features, mask, PROMPTS, max_new_tokens=8)
    assert isinstance(first, list) and len(first) == 2 and all(isinstance(t, str) for t in first)
    assert first == second
    assert not any(t in "".join(first) for t in ("<scene>", "<plan>", "<bos>", "<pad>"))


def test_batched_generation_matches_one_prompt_at_a_time(model):
    # left padding + position ids from the attention mask: a short prompt in a batch decodes as alone
    points, features, mask = _scenes()
    prompts = ["go", "find a chair near the sofa then walk to the kitchen door"]
    together = model.generate(points, features, mask, prompts, max_new_tokens=6)
    alone = [
        model.generate(points[i : i + 1], features[i : i + 1], mask[i : i + 1], prompts[i : i + 1], max_new_tokens=6)[0]
        for i in range(2)
    ]
    assert together == alone
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(points, features, mask, prompts, max_new_tokens=0)


def _location_runs(text: str) -> list[int]:
    return [len(re.findall(r"<loc\d+>", run)) for run in re.findall(r"(?:<loc\d+>)+", text)]


def test_constrained_generation_gives_complete_groups_of_three(tokenizer):
    model = ThreeDLLM(_config(), tokenizer, seed=3).eval()
    is_loc = torch.zeros(model.lm.get_input_embeddings().num_embeddings, dtype=torch.bool)
    is_loc[model.location_ids] = True
    bias = torch.where(is_loc, 30.0, 0.0)  # the model wants location tokens all the time
    hook = model.lm.get_output_embeddings().register_forward_hook(lambda mod, inp, out: out + bias)
    try:
        points, features, mask = _scenes()
        free = model.generate(points, features, mask, PROMPTS, max_new_tokens=13, constrain_locations=False)
        constrained = model.generate(points, features, mask, PROMPTS, max_new_tokens=13)
        boxes = model.generate(points[:1], features[:1], mask[:1], PROMPTS[:1], max_new_tokens=13, grammar=LocationGrammar(group_size=6))
    finally:
        hook.remove()
    assert all(max(_location_runs(t)) > 3 for t in free)  # unconstrained: one long run
    for text in constrained:
        assert _location_runs(text) and set(_location_runs(text)) == {3}, text
        indices = CODEC.parse_location_tokens(text)
        assert len(indices) % 3 == 0 and len(indices) >= 9  # 13 tokens: 3 groups fit
        for i in range(0, len(indices), 3):
            CODEC.decode_point([f"<loc{k}>" for k in indices[i : i + 3]])
    assert set(_location_runs(boxes[0])) == {6}


def test_constrained_boxes_read_as_boxes_when_the_model_wants_them_inverted(tokenizer):
    model = ThreeDLLM(_config(), tokenizer, seed=3).eval()
    calls = []

    def falling_bins(mod, inp, out):  # each new token wants a lower bin than the last: inverted boxes
        calls.append(1)
        bias = torch.zeros(out.shape[-1])
        bias[model.location_ids] = 20.0
        bias[model.location_ids[max(CODEC.bins - 1 - 5 * len(calls), 0)]] = 30.0
        return out + bias

    hook = model.lm.get_output_embeddings().register_forward_hook(falling_bins)
    try:
        points, features, mask = _scenes()
        box = model.generate(points[:1], features[:1], mask[:1], PROMPTS[:1], max_new_tokens=6, grammar=LocationGrammar(group_size=6))[0]
    finally:
        hook.remove()
    corners = CODEC.parse_location_tokens(box)
    assert len(corners) == 6 and all(corners[i + 3] >= corners[i] for i in range(3)), box
    CODEC.decode_box(box)


def test_processor_on_hand_made_logits():
    loc = [5, 6, 7, 8]
    scores = torch.zeros(1, 10)
    is_loc = torch.zeros(10, dtype=torch.bool)
    is_loc[loc] = True

    def allowed(processor, ids):
        return torch.isfinite(processor(torch.tensor([ids]).reshape(1, -1), scores.clone()))[0]

    p = LocationGroupProcessor(loc, group_size=3)
    assert allowed(p, []).all()  # nothing yet: anything goes
    assert allowed(p, [1, 2]).all()  # after text: a group may start or not
    assert torch.equal(allowed(p, [1, 5]), is_loc)  # inside a group: only location tokens (no EOS)
    assert torch.equal(allowed(p, [1, 5, 6]), is_loc)
    assert torch.equal(allowed(p, [1, 5, 6, 7]), ~is_loc)  # group complete: text first
    assert torch.equal(allowed(p, [5, 6, 7, 8]), is_loc)  # a 4th in a row opens a second group (consecutive run)
    assert torch.equal(allowed(LocationGroupProcessor(loc, consecutive_groups=True), [1, 5, 6, 7]), torch.ones(10, dtype=torch.bool))
    assert torch.equal(allowed(LocationGroupProcessor(loc, group_size=6), [1, 5, 6, 7]), is_loc)
    forced = LocationGroupProcessor(loc, force_after_token_ids=[2])
    assert torch.equal(allowed(forced, [1, 2]), is_loc)  # the trigger forces a group to start
    assert allowed(forced, [2, 1]).all()
    budget = LocationGroupProcessor(loc, force_after_token_ids=[2], max_length=4)
    assert torch.equal(allowed(budget, [1, 2]), ~is_loc)  # 2 tokens left: a group of 3 cannot complete
    assert torch.equal(allowed(budget, [5]), is_loc)  # but a started group continues
    # a batch with rows in different states; values other than -inf are untouched
    batch_scores = torch.arange(30, dtype=torch.float32).reshape(3, 10)
    out = p(torch.tensor([[1, 1, 1], [1, 1, 5], [5, 6, 7]]), batch_scores.clone())
    assert torch.equal(out[0], batch_scores[0])
    assert torch.equal(torch.isfinite(out[1]), is_loc) and torch.equal(torch.isfinite(out[2]), ~is_loc)
    assert torch.equal(out[1][is_loc], batch_scores[1][is_loc])
    with pytest.raises(ValueError, match="must not be location tokens"):
        LocationGroupProcessor(loc, force_after_token_ids=[5])


def test_a_boxs_upper_corner_may_not_take_a_bin_below_its_lower_corner():
    loc = [5, 6, 7, 8]  # bins 0..3
    order = BoxOrderProcessor(loc)
    scores = torch.arange(20, dtype=torch.float32).reshape(2, 10)

    def allowed(ids):
        return torch.isfinite(order(torch.tensor(ids), scores.clone()))

    assert allowed([[1, 1, 7, 6], [7, 8, 6, 1]]).all()  # inside a lower corner, or after text: anything goes
    out = allowed([[1, 1, 7, 6, 5], [5, 8, 6, 5, 8]])  # next: the upper corner's x (lower x <loc7>), its z (lower z <loc6>)
    assert out[0].tolist() == [True] * 5 + [False, False, True, True, True]  # x at least bin 2
    assert out[1].tolist() == [True] * 5 + [False, True, True, True, True]  # z at least bin 1
    kept = order(torch.tensor([[1, 1, 7, 6, 5], [1, 1, 1, 1, 1]]), scores.clone())
    assert torch.equal(kept[1], scores[1]) and torch.equal(kept[0][[0, 7, 8, 9]], scores[0][[0, 7, 8, 9]])  # values not forbidden stay
    assert LocationGrammar(group_size=6).order_processor(loc) is not None and LocationGrammar().order_processor(loc) is None


def test_grammar_resolves_trigger_tokens(tokenizer):
    ids = LocationGrammar(force_after=("<plan>",)).processor(tokenizer, [1, 2, 3]).force_ids.tolist()
    assert ids == [tokenizer.get_vocab()["<plan>"]]
    with pytest.raises(ValueError, match="not a single token"):
        LocationGrammar(force_after=("kitchen door",)).processor(tokenizer, [1, 2, 3])


# -- saving and loading --------------------------------------------------------------------------


def test_save_and_load_round_trip_gives_identical_logits(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "llm")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "scene_encoder.safetensors", "lm", "tokenizer"}
    loaded = ThreeDLLM.from_pretrained(folder, feature_dim=C)
    points, features, mask = _scenes()
    with torch.no_grad():
        a = model(points, features, mask, PROMPTS, ANSWERS)
        b = loaded(points, features, mask, PROMPTS, ANSWERS)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
    assert loaded.config == model.config
    assert loaded.parameter_count() == model.parameter_count()
    # saving again replaces the folder and leaves no temporary folders behind
    model.save_pretrained(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llm"]


def test_half_precision_checkpoints_load_as_float32_with_the_same_answers(model, tmp_path):
    full = model.save_pretrained(tmp_path / "fp32")
    half = model.save_pretrained(tmp_path / "fp16", dtype=torch.float16)
    size = lambda folder: sum(p.stat().st_size for p in folder.rglob("*.safetensors"))  # noqa: E731
    assert size(half) < 0.6 * size(full)
    assert model.lm.dtype == torch.float32  # saving in half did not touch the model
    loaded = ThreeDLLM.from_pretrained(half, feature_dim=C)
    assert loaded.lm.dtype == torch.float32 and loaded.encoder.queries.dtype == torch.float32
    points, features, mask = _scenes()
    with torch.no_grad():
        a, b = model(points, features, mask, PROMPTS, ANSWERS), loaded(points, features, mask, PROMPTS, ANSWERS)
    assert torch.allclose(a.logits, b.logits, atol=2e-2)


def test_load_errors_are_clear(model, tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="no 3D-LLM folder"):
        ThreeDLLM.from_pretrained(tmp_path / "missing")
    folder = model.save_pretrained(tmp_path / "llm")
    with pytest.raises(ValueError, match="trained on 16-channel features but feature_dim=512"):
        ThreeDLLM.from_pretrained(folder, feature_dim=512)
    config = json.loads((folder / "config.json").read_text())
    config["codec"]["bins"] = config["bins"] = 32  # a model for 32 bins beside a 64-bin tokenizer
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"tokenizer.*does not fit.*64 location tokens.*32"):
        ThreeDLLM.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        ThreeDLLM.from_pretrained(folder)
    with pytest.raises(ValueError, match="expects 32 bins"):
        ThreeDLLM(_config(bins_codec=LocationCodec(CODEC.lower, CODEC.upper, bins=32)), tokenizer)


def test_config_round_trips_and_default_model_size(tokenizer):
    config = _config()
    assert ThreeDLLMConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # the default LM with a 2k vocabulary + 64 location tokens, built without memory on the meta device
    big = train_tokenizer(_corpus(), vocab_size=400, location_bins=64)
    big.add_tokens([f"w{i}" for i in range(2048 - len(big) + 64)])
    with torch.device("meta"):
        default = ThreeDLLM(ThreeDLLMConfig(SceneEncoderConfig(feature_dim=512), CODEC), big)
    counts = default.parameter_count()
    assert 10e6 < counts["lm"] < 30e6 and counts["total"] == counts["lm"] + counts["encoder"]


def test_a_local_pretrained_lm_is_resized_to_the_tokenizer(tokenizer, tmp_path):
    small = SmallLlama(hidden=32, layers=1, heads=2, intermediate=64, max_positions=64)
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, max_position_embeddings=64)).save_pretrained(tmp_path / "user_lm")
    model = ThreeDLLM(_config(lm=LocalLM(str(tmp_path / "user_lm"))), tokenizer)
    assert model.lm.get_input_embeddings().num_embeddings == len(tokenizer)
    points, features, mask = _scenes()
    assert torch.isfinite(model(points, features, mask, PROMPTS, ANSWERS).loss)
    with pytest.raises(FileNotFoundError, match="no model folder"):
        ThreeDLLM(_config(lm=LocalLM(str(tmp_path / "nowhere"))), tokenizer)
    assert small.to_dict()["kind"] == "small_llama"


def test_extend_tokenizer_adds_nav3d_tokens():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"hello": 0, "[UNK]": 1}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = extend_tokenizer(PreTrainedTokenizerFast(tokenizer_object=backend), bins=8)
    assert tok.encode("<loc7>", add_special_tokens=False) == [tok.get_vocab()["<loc7>"]]


def test_lora_needs_peft(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # as if peft were not installed
    with pytest.raises(ImportError, match="pip install peft"):
        model.enable_lora()


def test_lora_trains_adapters_and_saves_merged(tokenizer, tmp_path):
    pytest.importorskip("peft")
    model = ThreeDLLM(_config(), tokenizer, seed=5)
    before = model.parameter_count()
    model.enable_lora(r=4, alpha=8)
    assert model.parameter_count()["trainable"] < before["trainable"]
    points, features, mask = _scenes()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(points, features, mask, PROMPTS, ANSWERS).loss.backward()
    assert model.encoder.queries.grad is not None
    optimiser.step()  # the adapters move away from their zero start, so merging matters
    loaded = ThreeDLLM.from_pretrained(model.save_pretrained(tmp_path / "lora"))
    with torch.no_grad():
        expected = model.eval()(points, features, mask, PROMPTS).logits
        assert torch.allclose(expected, loaded(points, features, mask, PROMPTS).logits, atol=1e-5)
