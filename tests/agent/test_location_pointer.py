"""The pointer location head (agent.location_pointer) and the scene encoder's local context."""

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from agent.llm3d import POINTER_FILE, SmallLlama, ThreeDLLM, ThreeDLLMConfig
from agent.location_codec import LocationCodec
from agent.location_pointer import (
    LocationPointer,
    PointerConfig,
    PointerLogitsProcessor,
    floored_logsumexp,
    location_phrase,
    pointer_positions,
)
from agent.scene_encoder import SceneEncoderConfig, neighbour_mean
from agent.tokenizer import train_tokenizer
from tests.agent.corpus import sentences_with_locations

pytestmark = pytest.mark.usefixtures("one_torch_thread")

C = 16
CODEC = LocationCodec((-5.0, 0.0, -4.0), (5.0, 3.0, 4.0), bins=64)
PROMPT = "find the mug"


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(sentences_with_locations(50, 0, max_words=8), vocab_size=400, location_bins=64)


def _config(pointer: PointerConfig | None = PointerConfig()) -> ThreeDLLMConfig:
    encoder = SceneEncoderConfig(feature_dim=C, dim=32, queries=8, layers=1, heads=2, frequencies=4, context_layers=1)
    lm = SmallLlama(hidden=64, layers=2, heads=2, intermediate=128, max_positions=128)
    return ThreeDLLMConfig(encoder, CODEC, lm, pointer=pointer)


def _mug_scenes(b: int, seed: int, n: int = 24):
    """Random scenes where one point (the mug) has feature e0; returns points, features, mug positions."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(CODEC.lower), torch.tensor(CODEC.upper)
    points = lo + torch.rand(b, n, 3, generator=g) * (hi - lo)  # (B, N, 3)
    features = torch.nn.functional.normalize(torch.randn(b, n, C, generator=g), dim=-1)
    mug = torch.randint(0, n, (b,), generator=g)
    features[torch.arange(b), mug] = torch.nn.functional.one_hot(torch.tensor(0), C).float()
    return points, features, points[torch.arange(b), mug]


def _answers(targets: torch.Tensor) -> list[str]:
    return ["go to the mug " + "".join(CODEC.encode_point(t.numpy())) + "." for t in targets]


def _errors(texts: list[str], targets: torch.Tensor) -> np.ndarray:
    errors = []
    for text, target in zip(texts, targets):
        tokens = re.findall(r"<loc\d+>", text)[:3]
        errors.append(np.linalg.norm(CODEC.decode_point(tokens) - target.numpy()) if len(tokens) == 3 else math.inf)
    return np.asarray(errors)


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A tiny pointer model trained for 120 steps to write the mug's location."""
    model = ThreeDLLM(_config(), tokenizer, seed=0).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(120):
        points, features, targets = _mug_scenes(16, seed=step)
        loss = model(points, features, None, [PROMPT] * 16, _answers(targets)).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def test_pointer_mixture_follows_points_and_conditions_on_written_bins():
    pointer = LocationPointer(PointerConfig(sigma=0.5), hidden=4, point_dim=4, bins=16)
    coords = torch.tensor([[[2.0, 10.0, 5.0], [12.0, 3.0, 9.0]]]).expand(4, -1, -1)  # (T=4, N=2, 3) bins
    log_alpha = torch.tensor([0.7, 0.3]).log().expand(4, -1)
    axis = torch.tensor([0, 1, 1, 2])
    previous = torch.tensor([[0, 0], [12, 0], [2, 0], [12, 3]])  # x (and y) written so far
    log_p = pointer.location_log_probs(log_alpha, coords, axis, previous)  # (4, 16)
    assert torch.allclose(log_p.logsumexp(dim=1), torch.zeros(4), atol=1e-5)
    assert log_p.argmax(dim=1).tolist() == [2, 3, 10, 9]  # x of the likelier point; y, z of the point whose x was written
    mass = log_p[0].exp()  # each point's share lies within a bin of its own
    assert abs(mass[1:4].sum().item() - 0.7) < 0.01 and abs(mass[11:14].sum().item() - 0.3) < 0.01


@pytest.mark.parametrize("condition_on", ["", "x", "xy"])
def test_kernel_table_gives_the_computed_mixture(condition_on):
    # generation reads the kernels from a per-scene table; training computes them per position
    generator = torch.Generator().manual_seed(0)
    pointer = LocationPointer(PointerConfig(sigma=1.2, condition_on=condition_on), hidden=4, point_dim=4, bins=16)
    coords = torch.rand(2, 40, 3, generator=generator) * 20 - 2  # (B, N, 3) bins, some outside 0..15
    table = pointer.log_kernels(coords)  # (B, 3, bins, N)
    assert table.shape == (2, 3, 16, 40)
    assert torch.allclose(table.logsumexp(dim=2), torch.zeros(2, 3, 40), atol=1e-5)  # each point's kernel sums to 1
    rows, axis = torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 1, 2, 2, 0, 1])
    previous = torch.randint(0, 16, (6, 2), generator=generator)
    log_alpha = (torch.randn(6, 40, generator=generator) * 5).log_softmax(dim=1)
    with torch.no_grad():
        computed = pointer.location_log_probs(log_alpha, coords[rows], axis, previous)  # (6, bins)
        read = pointer.table_log_probs(log_alpha, table[rows], axis, previous)
    assert torch.allclose(computed, read, atol=1e-5)
    assert torch.allclose(read.logsumexp(dim=1), torch.zeros(6), atol=1e-5)


def test_floored_logsumexp_matches_logsumexp_and_its_gradient():
    x = torch.cat([torch.randn(3, 50) * 3, torch.full((3, 20), -1e4), -torch.rand(3, 30) * 900], dim=1).requires_grad_()
    floored = floored_logsumexp(x, dim=1)
    exact = torch.logsumexp(x, dim=1)
    assert torch.allclose(floored, exact, atol=1e-6)
    (g_floored,) = torch.autograd.grad(floored.sum(), x)
    (g_exact,) = torch.autograd.grad(exact.sum(), x)
    assert torch.allclose(g_floored, g_exact, atol=1e-7)
    assert floored_logsumexp(x, dim=0, keepdim=True).shape == (1, 100)


def test_z_follows_the_written_x_not_the_floor_height_by_default():
    # an object (x 2, y 9, z 12) and a floor point elsewhere (x 3, y 0, z 1): a waypoint below the object
    # is written as x 2, y 0; z then follows the object (its x), unless y is conditioned on too
    coords = torch.tensor([[[2.0, 9.0, 12.0], [3.0, 0.0, 1.0]]])  # (1, 2, 3) bins
    log_alpha = torch.tensor([[0.9, 0.1]]).log()
    z_after = {}
    for condition_on in ("x", "xy"):
        pointer = LocationPointer(PointerConfig(sigma=1.0, condition_on=condition_on), hidden=4, point_dim=4, bins=16)
        log_p = pointer.location_log_probs(log_alpha, coords, torch.tensor([2]), torch.tensor([[2, 0]]))
        z_after[condition_on] = int(log_p.argmax())
    assert z_after == {"x": 12, "xy": 1}
    with pytest.raises(ValueError, match="condition_on"):
        PointerConfig(condition_on="z")
    assert PointerConfig.from_dict({"sigma": 1.5}).condition_on == "xy"  # saved before the field: trained on x and y


def test_mix_moves_location_mass_only():
    pointer = LocationPointer(PointerConfig(), hidden=4, point_dim=4, bins=3)
    logits = torch.randn(2, 7)  # ids 4, 5, 6 are the location tokens
    ids = torch.tensor([4, 5, 6])
    log_pointer = torch.tensor([[0.0, -50.0, -50.0]]).log_softmax(dim=1).expand(2, -1)
    out = pointer.mix(logits, torch.randn(2, 4), log_pointer, ids, torch.tensor([True, False]))
    logp = logits.log_softmax(dim=1)
    assert torch.allclose(out.logsumexp(dim=1), torch.zeros(2), atol=1e-5)
    assert torch.allclose(out[:, :4], logp[:, :4], atol=1e-5)  # other tokens keep the LM's probabilities
    assert torch.allclose(out[:, 4:].logsumexp(dim=1), logp[:, 4:].logsumexp(dim=1), atol=1e-5)
    assert out[0, 4] > logp[0, 4]  # the pointer's bin gains
    assert torch.allclose(out[1], logp[1], atol=1e-5)  # an empty scene: the LM's distribution


def test_pointer_positions_from_labels():
    bin_of = torch.full((20,), -1)
    bin_of[10:20] = torch.arange(10)  # ids 10..19 are bins 0..9
    labels = torch.tensor([[-100, 3, 11, 12, 13, 4, 15, 16, 17, 18, 19, 10, 2]])
    at = pointer_positions(labels, bin_of)
    assert at.axis.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert at.position.tolist() == [1, 2, 3, 5, 6, 7, 8, 9, 10]  # logits at t predict label t + 1
    assert at.start.tolist() == [1, 1, 1, 5, 5, 5, 8, 8, 8]
    assert at.previous[:, 0].tolist() == [1, 1, 1, 5, 5, 5, 8, 8, 8]  # the triple's x bin
    assert at.previous[2, 1].item() == 2 and at.previous[8, 1].item() == 9  # its y bin, used for z


def test_neighbour_mean_averages_the_nearest_real_points():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(2, 30, 3, generator=g)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 12:] = False
    values = torch.randn(60, 5, generator=g)
    pooled = torch.sparse.mm(neighbour_mean(points, mask, 4), values).view(2, 30, 5)
    near = torch.cdist(points[1, :12], points[1, :12]).topk(4, largest=False).indices  # (12, 4)
    assert torch.allclose(pooled[1, :12], values.view(2, 30, 5)[1, :12][near].mean(dim=1), atol=1e-5)
    assert pooled[1, 12:].abs().sum() == 0  # padding pools nothing


def test_a_trained_pointer_writes_the_mug_location_on_new_scenes(trained):
    points, features, targets = _mug_scenes(32, seed=10_000)
    texts = trained.generate(points, features, None, [PROMPT] * 32, max_new_tokens=12)
    errors = _errors(texts, targets)
    assert np.median(errors) < 0.3, (np.median(errors), texts[:3])  # a bin is 0.16 m wide here


def test_generation_gives_the_pointer_weights_of_each_triple(trained):
    """generate_with_weights: one weight vector per written triple, over the scene's own points (padding
    cut off), summing to 1, and on the mug where the trained pointer writes the mug's location."""
    points, features, targets = _mug_scenes(3, seed=30_000)
    mask = torch.ones(3, 24, dtype=torch.bool)
    mask[2, 20:] = False  # the last scene has 20 points
    generations = trained.generate_with_weights(points, features, mask, [PROMPT] * 3, max_new_tokens=12)
    assert [g.text for g in generations] == trained.generate(points, features, mask, [PROMPT] * 3, max_new_tokens=12)
    for b, g in enumerate(generations):
        assert len(g.point_weights) == len(re.findall(r"<loc\d+>", g.text)) // 3 >= 1
        weights = g.point_weights[0]
        assert weights.shape == ((20,) if b == 2 else (24,)) and weights.sum() == pytest.approx(1.0, abs=1e-4)
        mug = int(np.argmin(np.linalg.norm(points[b].numpy() - targets[b].numpy(), axis=1)))
        if b < 2:  # the mug may be among the padding of the last scene
            assert int(np.argmax(weights)) == mug


def _reading(model: ThreeDLLM, max_points: int | None) -> ThreeDLLM:
    """``model`` (its weights) with an encoder that reads at most ``max_points`` of each scene's points."""
    encoder = dataclasses.replace(model.config.encoder, max_points=max_points)
    copy = ThreeDLLM(dataclasses.replace(model.config, encoder=encoder), model.tokenizer, seed=0)
    copy.load_state_dict(model.state_dict())
    return copy


def test_an_encoder_reading_the_first_points_plans_from_them_and_spreads_their_weights(trained, tmp_path):
    points, features, targets = _mug_scenes(3, seed=30_000)
    mask = torch.ones(3, 24, dtype=torch.bool)
    mask[2, 12:] = False  # the last scene has 12 points, fewer than the encoder reads
    reading = _reading(trained, 16)
    got = reading.generate_with_weights(points, features, mask, [PROMPT] * 3, max_new_tokens=12)
    first = trained.generate_with_weights(points[:, :16], features[:, :16], mask[:, :16], [PROMPT] * 3, max_new_tokens=12)
    assert [g.text for g in got] == [g.text for g in first]
    for b, (g, f) in enumerate(zip(got, first)):
        assert len(g.point_weights) == len(f.point_weights) >= 1
        for w, w_first in zip(g.point_weights, f.point_weights):
            assert w.shape == ((12,) if b == 2 else (24,))  # over the scene's own points, read or not
            assert w.sum() == pytest.approx(1.0, abs=1e-5)
            if b == 2:  # all of its points were read
                np.testing.assert_allclose(w, w_first[:12], atol=1e-6)
                continue
            # an unread point has the weight of the read point nearest it; the read ones keep their proportions
            nearest = torch.cdist(points[b, 16:], points[b, :16]).argmin(dim=1).numpy()
            scale = w[:16].sum() / w_first.sum()
            np.testing.assert_allclose(w[:16], w_first * scale, atol=1e-6)
            np.testing.assert_allclose(w[16:], w_first[nearest] * scale, atol=1e-6)
    # training reads the same points; step masks over all of a scene's points are cut to them
    answers = _answers(targets)
    step_masks = [np.eye(1, 24, k=b, dtype=bool) for b in range(3)]
    out = reading(points, features, mask, [PROMPT] * 3, answers, step_masks=step_masks)
    out_first = trained(points[:, :16], features[:, :16], mask[:, :16], [PROMPT] * 3, answers, step_masks=[m[:, :16] for m in step_masks])
    assert out.loss.item() == pytest.approx(out_first.loss.item(), abs=1e-5)
    assert out.pointer_loss.item() == pytest.approx(out_first.pointer_loss.item(), abs=1e-5)
    reading.save_pretrained(tmp_path / "reading")
    assert ThreeDLLM.from_pretrained(tmp_path / "reading").config.encoder.max_points == 16
    with pytest.raises(ValueError, match="max_points"):
        SceneEncoderConfig(feature_dim=C, max_points=0)


def test_greedy_decoding_skips_only_rows_where_no_location_can_win(trained):
    """Greedy decoding skips the head where a text token beats all location tokens together: it
    writes what top-1 sampling (which never skips) writes, with the same weights per triple."""
    points, features, _ = _mug_scenes(4, seed=40_000)
    greedy = trained.generate_with_weights(points, features, None, [PROMPT] * 4, max_new_tokens=12, constrain_locations=False)
    top1 = trained.generate_with_weights(points, features, None, [PROMPT] * 4, max_new_tokens=12, constrain_locations=False, do_sample=True, top_k=1)
    assert [g.text for g in greedy] == [g.text for g in top1]
    for a, b in zip(greedy, top1):
        assert len(a.point_weights) == len(b.point_weights) >= 1
        for wa, wb in zip(a.point_weights, b.point_weights):
            np.testing.assert_allclose(wa, wb, atol=1e-6)


def test_greedy_skip_picks_what_the_full_mixture_picks(trained):
    """Decoding random logits (location tokens given every share of the mass) with the processor
    told it is greedy and with one that is not: the argmax agrees at every step."""
    head, vocab, b, n = trained.pointer, len(trained.tokenizer), 4, 24
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(b, n, head.key.out_features, generator=g)
    coords = torch.rand(b, n, 3, generator=g) * 63
    location = torch.tensor(trained.location_ids)
    steps = [(torch.randn(b, vocab, generator=g) * 2, torch.rand(b, 1, generator=g) * 12 - 4, torch.randn(b, 1, head.query.in_features, generator=g))
             for _ in range(40)]
    picked, location_picks = {}, 0
    for greedy in (False, True):
        store: list[torch.Tensor] = []
        processor = PointerLogitsProcessor(head, keys, torch.ones(b, n, dtype=torch.bool), coords, trained.location_ids, store, greedy=greedy)
        ids = torch.zeros(b, 0, dtype=torch.long)
        for logits, boost, hidden in steps:
            store[:] = [hidden]
            scores = logits.clone()
            scores[:, location] += boost  # location tokens from a small to nearly all of the mass
            ids = torch.cat([ids, processor(ids, scores).argmax(dim=-1, keepdim=True)], dim=1)
        picked[greedy] = ids
        location_picks = int(torch.isin(ids, location).sum())
    assert torch.equal(picked[True], picked[False])
    assert location_picks >= 20


def test_without_the_pointer_generation_gives_no_weights(trained):
    points, features, _ = _mug_scenes(2, seed=50_000)
    generations = trained.generate_with_weights(points, features, None, [PROMPT] * 2, max_new_tokens=12, use_pointer=False)
    assert all(g.point_weights == [] and g.text for g in generations)


def test_a_bfloat16_scene_encoder_keeps_the_trained_pointers_answers(trained):
    """``use_point_dtype(bfloat16)`` (``agent.precision``): the prefix stays close to float32's and the
    pointer still writes the mug's location."""
    import copy

    model = copy.deepcopy(trained)
    points, features, targets = _mug_scenes(32, seed=10_000)
    reference = model.prefix(points, features).detach()
    assert model.use_point_dtype(torch.bfloat16) is model and model.point_dtype == torch.bfloat16
    prefix = model.prefix(points, features).detach()
    assert prefix.dtype == reference.dtype  # the LM's type
    assert float((prefix - reference).norm() / reference.norm()) < 0.05
    errors = _errors(model.generate(points, features, None, [PROMPT] * 32, max_new_tokens=12), targets)
    assert np.median(errors) < 0.3
    with pytest.raises(ValueError, match="floating-point"):
        model.use_point_dtype(torch.int8)


def test_teacher_forced_and_generated_location_tokens_agree(trained):
    points, features, _ = _mug_scenes(4, seed=20_000)
    texts = trained.generate(points, features, None, [PROMPT] * 4, max_new_tokens=12)
    out = trained(points, features, None, [PROMPT] * 4, texts)
    ids, labels = out.batch.input_ids, out.batch.labels
    location = set(trained.location_ids)
    checked = 0
    for b in range(4):
        for t in range(1, ids.shape[1]):
            # inside a group (the previous label is a location token too) generation chose among location tokens only
            if int(labels[b, t]) in location and int(labels[b, t - 1]) in location:
                best = trained.location_ids[int(out.logits[b, t - 1, trained.location_ids].argmax())]
                assert best == int(labels[b, t])
                checked += 1
    assert checked >= 8


def test_save_and_load_keep_the_pointer(tokenizer, tmp_path):
    model = ThreeDLLM(_config(), tokenizer, seed=3).eval()
    points, features, targets = _mug_scenes(2, seed=1)
    before = model(points, features, None, [PROMPT] * 2, _answers(targets)).logits
    model.save_pretrained(tmp_path / "m")
    loaded = ThreeDLLM.from_pretrained(tmp_path / "m")
    assert loaded.config.pointer == PointerConfig()
    assert torch.allclose(loaded(points, features, None, [PROMPT] * 2, _answers(targets)).logits, before, atol=1e-5)
    (tmp_path / "m" / POINTER_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=POINTER_FILE):
        ThreeDLLM.from_pretrained(tmp_path / "m")


def test_empty_scenes_give_finite_losses_and_answers(tokenizer):
    model = ThreeDLLM(_config(), tokenizer, seed=4)
    points, features = torch.zeros(2, 5, 3), torch.zeros(2, 5, C)
    mask = torch.zeros(2, 5, dtype=torch.bool)  # nothing mapped yet
    loss = model(points, features, mask, [PROMPT] * 2, ["go to <loc1><loc2><loc3>.", "no"]).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert len(model.generate(points, features, mask, [PROMPT] * 2, max_new_tokens=6)) == 2


# -- the phrase prior -------------------------------------------------------------------------------

NAMES = ("mug", "chair")


def _toy_phrase_encoder(phrases: list[str]) -> np.ndarray:
    """Stands in for the sentence encoder: a phrase naming NAMES[i] -> e_i, anything else -> e_15."""
    out = np.zeros((len(phrases), C), dtype=np.float32)
    for row, phrase in enumerate(phrases):
        hits = [i for i, name in enumerate(NAMES) if name in phrase]
        out[row, hits[-1] if hits else C - 1] = 1.0
    return out


def _two_object_scenes(b: int, seed: int, n: int = 24):
    """Random scenes with a mug (feature e0) and a chair (e1); returns points, features, their positions (B, 2, 3)."""
    g = torch.Generator().manual_seed(seed)
    points, features, _ = _mug_scenes(b, seed, n)
    which = torch.stack([torch.randperm(n, generator=g)[:2] for _ in range(b)])  # (B, 2)
    rows = torch.arange(b)
    features[rows, which[:, 0]] = torch.nn.functional.one_hot(torch.tensor(0), C).float()
    features[rows, which[:, 1]] = torch.nn.functional.one_hot(torch.tensor(1), C).float()
    return points, features, points[rows[:, None], which]


def _phrase_model(tokenizer, seed: int = 0) -> ThreeDLLM:
    model = ThreeDLLM(_config(PointerConfig(phrase_scale=3.0)), tokenizer, seed=seed)
    model.phrase_encoder = _toy_phrase_encoder
    return model


def test_location_phrase_is_the_step_text_before_its_tokens():
    assert location_phrase("1. find the tv <loc1><loc2><loc3> 2. go to the bedroom ", "p") == "go to the bedroom"
    assert location_phrase("find the red mug ", "p") == "find the red mug"
    # a grounding box: no answer text before either corner -> the prompt, without its location tokens
    assert location_phrase("", "where is the red chair?") == "where is the red chair?"
    assert location_phrase("<loc1><loc2><loc3>", "from <loc4><loc5><loc6> find the mug") == "from find the mug"


def test_the_phrase_prior_points_at_the_named_object_before_training(tokenizer):
    model = _phrase_model(tokenizer).eval()
    points, features, places = _two_object_scenes(8, seed=5)
    chair_answers = ["find the chair " + "".join(CODEC.encode_point(p.numpy())) + "." for p in places[:, 1]]
    with torch.no_grad():
        right = model(points, features, None, ["find the chair"] * 8, chair_answers).loss
        model.phrase_encoder = lambda phrases: _toy_phrase_encoder([p.replace("chair", "mug") for p in phrases])
        wrong = model(points, features, None, ["find the chair"] * 8, chair_answers).loss
    assert right < wrong - 0.5, (float(right), float(wrong))  # the mug's points get the mass when the phrase says mug


def test_a_phrase_pointer_writes_the_named_objects_location(tokenizer):
    model = _phrase_model(tokenizer).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(60):
        points, features, places = _two_object_scenes(16, seed=step)
        pick = torch.arange(16) % 2  # half the records ask for the mug, half for the chair
        answers = [f"find the {NAMES[k]} " + "".join(CODEC.encode_point(places[i, k].numpy())) + "." for i, k in enumerate(pick.tolist())]
        loss = model(points, features, None, [f"find the {NAMES[k]}" for k in pick.tolist()], answers).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    points, features, places = _two_object_scenes(16, seed=50_000)
    pick = torch.arange(16) % 2
    texts = model.generate(points, features, None, [f"find the {NAMES[k]}" for k in pick.tolist()], max_new_tokens=16)
    errors = _errors(texts, places[torch.arange(16), pick])
    assert np.median(errors) < 0.3, (np.median(errors), texts[:2])
    assert model.pointer.log_phrase_scale.grad is not None
