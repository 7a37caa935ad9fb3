"""``ClipFeatureExtractor``: dense, language-aligned CLIP features from a local Hugging Face CLIP folder.

For users who have CLIP weights on disk (nothing is ever downloaded). Make such a folder once, on a
machine with internet::

    from transformers import CLIPModel, CLIPProcessor
    CLIPModel.from_pretrained("openai/clip-vit-base-patch16").save_pretrained("clip-vit-b16")
    CLIPProcessor.from_pretrained("openai/clip-vit-base-patch16").save_pretrained("clip-vit-b16")

and pass the folder to ``ClipFeatureExtractor.from_path("clip-vit-b16")``.

Pipeline for a frame's (H, W, 3) uint8 RGB:

1. **Resize** the whole frame (no crop) to ``config.input_size`` (default: the model's square
   ``image_size``, e.g. 224 x 224), bicubic with antialiasing as CLIP's image processor resamples;
   the aspect ratio is *not* kept unless ``input_size`` is given with the frame's aspect (sizes other
   than the model's interpolate its position embeddings). Then rescale and normalise with the image
   processor's ``rescale_factor``, ``image_mean`` and ``image_std``.
2. **Patch features** on the (gh, gw) = input_size / patch_size grid, by ``config.dense``
   (``DenseRecipe``); each goes through the vision tower's ``post_layernorm`` and ``visual_projection``
   into the text embedding space and is L2-normalised.
3. **Upsample** the unit patch features bilinearly (align_corners=False: patch centres at patch
   centres) to (H, W) and L2-normalise per pixel -> (H, W, projection_dim) float32.

``embed_text`` is CLIP's ``get_text_features`` (the text tower's end-of-text token through
``text_projection``), L2-normalised, so pixel-text cosine similarities rank pixels for a query.
torch and transformers load only when a model does (``import perception`` stays light).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from envs.types import Frame

if TYPE_CHECKING:  # torch and transformers load only when a model does
    import torch

_HOW_TO_MAKE_A_FOLDER = (
    "download a CLIP model (e.g. openai/clip-vit-base-patch16) on a machine with internet, "
    "save it with CLIPModel.save_pretrained(folder) and CLIPProcessor.save_pretrained(folder), "
    "copy the folder here and pass its path"
)


class DenseRecipe(enum.Enum):
    """How the last vision block turns tokens into per-patch features (before post_layernorm + projection).

    With ``x`` the (B, 1 + gh*gw, D) tokens entering the last block, ``ln1``/``ln2`` its layer norms,
    ``v``/``o`` its attention's ``v_proj``/``out_proj`` and ``mlp`` its MLP:

    - ``MASKCLIP`` (default): ``o(v(ln1(x)))``. MaskCLIP (Zhou et al., ECCV 2022): the query-key
      attention is skipped so that each patch keeps its own value embedding, which lies in the
      space the class token is trained to be compared with text in. The residual and the MLP are
      dropped too, as in F3RM's and maskclip_onnx's ViT ports, which found them to hurt.
    - ``MASKCLIP_RESIDUAL``: ``y = x + o(v(ln1(x)))``, then ``y + mlp(ln2(y))``: MaskCLIP's original
      mmseg code, which keeps the block's residual and MLP around the value path.
    - ``PATCH_TOKENS``: the last block run as trained (with attention): the patch tokens of the last
      hidden state. Less language-aligned (every patch attends mostly to global context), for comparison.
    """

    MASKCLIP = "maskclip"
    MASKCLIP_RESIDUAL = "maskclip_residual"
    PATCH_TOKENS = "patch_tokens"


@dataclass(frozen=True)
class ClipFeatureConfig:
    """How frames and texts are encoded.

    - ``dense``: the per-patch recipe (``DenseRecipe``).
    - ``input_size``: (height, width) in pixels that frames are resized to before the vision tower
      (an int n means (n, n)); both must be multiples of the model's patch size. None means the
      model's square ``image_size`` (the aspect ratio is then not kept). Other sizes interpolate the
      position embeddings; a larger size gives a finer patch grid (e.g. (336, 448) for ViT-B/16:
      21 x 28 patches) at a quadratic cost.
    - ``batch_size``: frames per vision forward pass in ``features_batch``.
    - ``device``: torch device to run on.
    """

    dense: DenseRecipe = DenseRecipe.MASKCLIP
    input_size: tuple[int, int] | None = None
    batch_size: int = 8
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.dense, DenseRecipe):
            try:
                object.__setattr__(self, "dense", DenseRecipe(self.dense))
            except ValueError:
                names = ", ".join(r.value for r in DenseRecipe)
                raise ValueError(f"ClipFeatureConfig.dense must be one of: {names}; got {self.dense!r}") from None
        if self.input_size is not None:
            size = self.input_size
            size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)  # an int: square
            if len(size) != 2 or min(size) < 1:
                raise ValueError(
                    "ClipFeatureConfig.input_size must be (height, width) in pixels, both >= 1, "
                    f"got {self.input_size!r}"
                )
            object.__setattr__(self, "input_size", size)
        if self.batch_size < 1:
            raise ValueError(f"ClipFeatureConfig.batch_size must be >= 1, got {self.batch_size}")


def check_clip_folder(path: str | Path) -> Path:
    """``path`` as a ``Path`` if it is a local CLIP folder (config.json of model_type "clip",
    tokenizer files, image processor config); raises ``FileNotFoundError`` / ``ValueError`` saying
    what is wrong and how to make one. Reads only small JSON files (no torch, no transformers)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"CLIP model folder {str(path)!r} does not exist; {_HOW_TO_MAKE_A_FOLDER}")
    if not path.is_dir():
        raise FileNotFoundError(f"CLIP model path {str(path)!r} is not a folder; {_HOW_TO_MAKE_A_FOLDER}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"CLIP model folder {str(path)!r} has no config.json, so it is not a Hugging Face model folder; "
            + _HOW_TO_MAKE_A_FOLDER
        )
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise ValueError(
            f"{str(config_file)!r} is not a valid JSON model config ({error}); {_HOW_TO_MAKE_A_FOLDER}"
        ) from None
    if model_type != "clip":
        raise ValueError(
            f"{str(config_file)!r} is for a {model_type!r} model, not a CLIP model (model_type 'clip'): "
            f"ClipFeatureExtractor needs a CLIPModel folder with both towers; {_HOW_TO_MAKE_A_FOLDER}"
        )
    if not (path / "tokenizer.json").is_file() and not (
        (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    ):
        raise FileNotFoundError(
            f"CLIP model folder {str(path)!r} has no tokenizer (tokenizer.json, or vocab.json + merges.txt); "
            "save the model's CLIPProcessor (or tokenizer) into it with save_pretrained(folder)"
        )
    if not (path / "preprocessor_config.json").is_file() and not (path / "processor_config.json").is_file():
        raise FileNotFoundError(
            f"CLIP model folder {str(path)!r} has no image processor config (preprocessor_config.json or "
            "processor_config.json), so the pixel mean/std are unknown; save the model's CLIPProcessor "
            "into it with CLIPProcessor.save_pretrained(folder)"
        )
    return path


class ClipFeatureExtractor:
    """Frame -> (H, W, projection_dim) unit CLIP features per pixel; text -> (projection_dim,) unit vector.

    Build it with ``ClipFeatureExtractor.from_path(folder)``. Every pixel gets a feature (never the
    zero vector, barring exactly cancelling neighbours). Satisfies ``perception.features.FeatureExtractor``.
    """

    def __init__(
        self,
        model,
        tokenizer,
        image_mean: Sequence[float],
        image_std: Sequence[float],
        rescale_factor: float = 1.0 / 255.0,
        config: ClipFeatureConfig = ClipFeatureConfig(),
        path: Path | None = None,
    ) -> None:
        """``model``: a transformers ``CLIPModel``; ``tokenizer``: its tokenizer; ``image_mean`` /
        ``image_std``: per-channel (3,) normalisation applied after ``rescale_factor`` (uint8 -> [0, 1])."""
        self.model = model.to(config.device).eval()
        self.tokenizer = tokenizer
        self.config = config
        self.path = path
        self.image_mean = np.asarray(image_mean, dtype=np.float32).reshape(3)
        self.image_std = np.asarray(image_std, dtype=np.float32).reshape(3)
        if not (self.image_std > 0).all():
            raise ValueError(f"image_std must be positive per channel, got {self.image_std.tolist()}")
        self.rescale_factor = float(rescale_factor)
        vision = model.config.vision_config
        self.patch_size = int(vision.patch_size)
        self.input_size: tuple[int, int] = config.input_size or (int(vision.image_size), int(vision.image_size))
        if self.input_size[0] % self.patch_size or self.input_size[1] % self.patch_size:
            raise ValueError(
                f"ClipFeatureConfig.input_size {self.input_size} must be multiples of the model's patch size "
                f"{self.patch_size} (e.g. {self.patch_size * 14} x {self.patch_size * 14})"
            )
        self.max_text_tokens = int(model.config.text_config.max_position_embeddings)

    @classmethod
    def from_path(cls, path: str | Path, config: ClipFeatureConfig = ClipFeatureConfig()) -> "ClipFeatureExtractor":
        """Load ``CLIPModel``, tokenizer and image processor settings from a local folder (never downloads).

        Raises ``FileNotFoundError`` when the path is missing, not a folder, or lacks config.json,
        tokenizer or image processor files, and ``ValueError`` when its config is not a CLIP model's.
        """
        path = check_clip_folder(path)
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel  # heavy, only when loading

        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        model = CLIPModel.from_pretrained(str(path), local_files_only=True)
        do_rescale = getattr(processor, "do_rescale", True)
        do_normalize = getattr(processor, "do_normalize", True)
        return cls(
            model,
            tokenizer,
            image_mean=processor.image_mean if do_normalize else (0.0, 0.0, 0.0),
            image_std=processor.image_std if do_normalize else (1.0, 1.0, 1.0),
            rescale_factor=float(getattr(processor, "rescale_factor", 1.0 / 255.0)) if do_rescale else 1.0,
            config=config,
            path=path,
        )

    @property
    def dim(self) -> int:
        """C, the shared image-text embedding size (``projection_dim``: 512 for ViT-B/16)."""
        return int(self.model.config.projection_dim)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(gh, gw), the patch grid every frame is encoded on."""
        return self.input_size[0] // self.patch_size, self.input_size[1] // self.patch_size

    # ------------------------------------------------------------------------------------- images

    def __call__(self, frame: Frame) -> np.ndarray:
        """(H, W, C) float32 unit features of ``frame``'s RGB (see the module docstring for the recipe)."""
        return self.features_batch([frame])[0]

    def features_batch(self, frames: Sequence[Frame]) -> np.ndarray:
        """(B, H, W, C) float32 unit features of frames that share one (H, W) image size."""
        rgb = _stack_rgb(frames)  # (B, H, W, 3) uint8
        import torch

        out = np.empty(rgb.shape[:3] + (self.dim,), dtype=np.float32)  # (B, H, W, C)
        with torch.inference_mode():
            for start in range(0, len(rgb), self.config.batch_size):
                chunk = rgb[start : start + self.config.batch_size]
                patches = self._patch_features(chunk)  # (b, C, gh, gw), unit along C
                pixels = torch.nn.functional.interpolate(
                    patches, size=rgb.shape[1:3], mode="bilinear", align_corners=False
                )  # (b, C, H, W)
                pixels = torch.nn.functional.normalize(pixels, dim=1, eps=1e-12)  # unit along C (0 stays 0)
                out[start : start + len(chunk)] = pixels.permute(0, 2, 3, 1).float().cpu().numpy()
        return out

    def patch_features(self, frames: Sequence[Frame]) -> np.ndarray:
        """(B, gh, gw, C) float32 unit features of each patch, before upsampling to pixels."""
        rgb = _stack_rgb(frames)  # (B, H, W, 3) uint8
        import torch

        with torch.inference_mode():
            patches = self._patch_features(rgb)  # (B, C, gh, gw)
        return patches.permute(0, 2, 3, 1).float().cpu().numpy()

    # --------------------------------------------------------------------------------------- text

    def embed_text(self, text: str) -> np.ndarray:
        """(C,) float32 unit CLIP text embedding of ``text`` (as it is: no prompt template)."""
        return self.embed_texts([text])[0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) float32 unit CLIP text embeddings, in order; texts longer than the model's context
        (77 tokens for OpenAI CLIP) are truncated."""
        if isinstance(texts, str):
            raise TypeError("ClipFeatureExtractor.embed_texts takes a list of strings; use embed_text for one")
        import torch

        batch = self.tokenizer(
            [str(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_text_tokens,
            return_tensors="pt",
        ).to(self.config.device)
        with torch.inference_mode():
            out = self.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output is projected; 4.x a tensor
            embeddings = out if isinstance(out, torch.Tensor) else out.pooler_output  # (N, C)
            embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
        return embeddings.float().cpu().numpy()

    # ---------------------------------------------------------------------------------- internals

    def _pixel_values(self, rgb: np.ndarray) -> "torch.Tensor":
        """(B, H, W, 3) uint8 -> (B, 3, h, w) float32 normalised model input at ``input_size``."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.config.device)
        x = x.permute(0, 3, 1, 2).float()  # (B, 3, H, W) in 0..255
        if x.shape[2:] != self.input_size:
            x = torch.nn.functional.interpolate(
                x, size=self.input_size, mode="bicubic", align_corners=False, antialias=True
            ).clamp(0.0, 255.0)  # (B, 3, h, w); clamped like a uint8 resize (bicubic overshoots)
        mean = torch.as_tensor(self.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.as_tensor(self.image_std, device=x.device).view(1, 3, 1, 1)
        return (x * self.rescale_factor - mean) / std  # (B, 3, h, w)

    def _patch_features(self, rgb: np.ndarray) -> "torch.Tensor":
        """(B, H, W, 3) uint8 -> (B, C, gh, gw) unit patch features (call under torch.inference_mode)."""
        import torch

        vision = self.model.vision_model
        pixel_values = self._pixel_values(rgb)  # (B, 3, h, w)
        native = self.input_size == (vision.config.image_size, vision.config.image_size)
        out = vision(pixel_values=pixel_values, interpolate_pos_encoding=not native, output_hidden_states=True)
        recipe = self.config.dense
        if recipe is DenseRecipe.PATCH_TOKENS:
            tokens = out.last_hidden_state  # (B, 1 + gh*gw, D)
        else:
            x = out.hidden_states[-2]  # (B, 1 + gh*gw, D): the tokens entering the last block
            block = vision.encoder.layers[-1]
            tokens = block.self_attn.out_proj(block.self_attn.v_proj(block.layer_norm1(x)))  # (B, 1+gh*gw, D)
            if recipe is DenseRecipe.MASKCLIP_RESIDUAL:
                tokens = x + tokens
                tokens = tokens + block.mlp(block.layer_norm2(tokens))
        tokens = tokens[:, 1:]  # (B, gh*gw, D): patch tokens, class token dropped
        features = self.model.visual_projection(vision.post_layernorm(tokens))  # (B, gh*gw, C)
        features = torch.nn.functional.normalize(features, dim=-1)
        gh, gw = self.grid_size
        return features.transpose(1, 2).reshape(len(rgb), -1, gh, gw)  # (B, C, gh, gw), row-major patches


def _stack_rgb(frames: Sequence[Frame]) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB of frames that share one size; ValueError naming the bad frame otherwise."""
    if isinstance(frames, Frame) or not len(frames):
        raise ValueError("expected a non-empty sequence of frames; call the extractor itself for one frame")
    images = []
    for i, frame in enumerate(frames):
        rgb = getattr(frame, "rgb", None)
        if rgb is None:
            raise ValueError(f"frame {i} has no rgb image; ClipFeatureExtractor needs (H, W, 3) uint8 RGB")
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            shape, dtype = getattr(rgb, "shape", None), getattr(rgb, "dtype", type(rgb).__name__)
            raise ValueError(f"frame {i}'s rgb must be an (H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
        if min(rgb.shape[:2]) < 1:
            raise ValueError(f"frame {i}'s rgb is empty: shape {rgb.shape}")
        if images and rgb.shape != images[0].shape:
            raise ValueError(
                f"frame {i}'s rgb is {rgb.shape[:2]} but frame 0's is {images[0].shape[:2]}; "
                "features_batch needs frames of one size (call the extractor per frame otherwise)"
            )
        images.append(rgb)
    return np.stack(images)  # (B, H, W, 3) uint8
