"""The network behind ``LearnedRGBExtractor``: a compact U-Net, RGB -> per-pixel embeddings.

Imports torch at module level, so only ``perception.learned_rgb`` imports it, lazily (``import
perception`` stays light).

Shapes, for an (B, 3, H, W) input with H and W multiples of 16 (the extractor pads other sizes):

- encoder: a stride-2 3x3 conv-BN-ReLU stem at H/2 (``channels[0]``), then levels at H/4, H/8 and
  H/16 (``channels[1..3]``) of two 3x3 conv-BN-ReLU each (the first with stride 2);
- context: the H/16 map's global average, projected and added back to it (room-level cues);
- decoder: nearest x2, concatenate the encoder's map of that size, one 3x3 conv-BN-ReLU (H/8, H/4),
  then a 1x1 conv-BN-ReLU at H/2 to ``hidden`` channels (3x3 convolutions at H/2 cost more than the
  rest of the network together on a CPU);
- head: a 1x1 conv (``hidden`` -> ``embed_dim``), giving raw features ``F`` (B, D, H/2, W/2).

The full-resolution feature of a pixel is ``normalise(bilinear_upsample(F))`` at that pixel. The head
and bilinear interpolation are both linear (interpolation weights sum to 1), so the hidden map is
upsampled instead and the head applied per pixel (``forward``; ``LearnedRGBExtractor`` does the same),
and training samples the hidden map at a few pixels and applies the head there
(``sample_features``): exactly the features inference computes at those pixels, at a fraction of the
cost.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

RGB_MEAN = (0.45, 0.42, 0.38)
RGB_STD = (0.25, 0.25, 0.25)


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


def _level(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(_conv_bn_relu(c_in, c_out, stride), _conv_bn_relu(c_out, c_out))


class LearnedRGBNet(nn.Module):
    """RGB (B, 3, H, W) float in [0, 1] -> hidden map (B, hidden, H/2, W/2) -> (B, H, W, D) unit features."""

    def __init__(self, channels: tuple[int, int, int, int], hidden: int, embed_dim: int) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.register_buffer("rgb_mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(RGB_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = _conv_bn_relu(3, c0, 2)  # H/2: one conv
        self.enc1 = _level(c0, c1, 2)  # H/4
        self.enc2 = _level(c1, c2, 2)  # H/8
        self.enc3 = _level(c2, c3, 2)  # H/16
        self.context = nn.Sequential(nn.Linear(c3, c3), nn.ReLU(inplace=True))
        self.dec2 = _conv_bn_relu(c3 + c2, c2)  # H/8
        self.dec1 = _conv_bn_relu(c2 + c1, c1)  # H/4
        self.dec0 = nn.Sequential(nn.Conv2d(c1 + c0, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))  # H/2, 1x1
        self.head = nn.Conv2d(hidden, embed_dim, 1)

    def hidden_map(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], H and W multiples of 16 -> (B, hidden, H/2, W/2)."""
        x = (rgb - self.rgb_mean) / self.rgb_std
        s0 = self.stem(x)  # (B, c0, H/2, W/2)
        s1 = self.enc1(s0)  # (B, c1, H/4, W/4)
        s2 = self.enc2(s1)  # (B, c2, H/8, W/8)
        s3 = self.enc3(s2)  # (B, c3, H/16, W/16)
        s3 = s3 + self.context(s3.mean(dim=(2, 3)))[:, :, None, None]  # global context, broadcast
        d2 = self.dec2(torch.cat([F.interpolate(s3, size=s2.shape[-2:], mode="nearest"), s2], 1))  # (B, c2, H/8, W/8)
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=s1.shape[-2:], mode="nearest"), s1], 1))  # (B, c1, H/4, W/4)
        return self.dec0(torch.cat([F.interpolate(d1, size=s0.shape[-2:], mode="nearest"), s0], 1))  # (B, hidden, H/2, W/2)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, H, W, D) unit features (padding to a multiple of 16 handled here)."""
        h, w = rgb.shape[-2:]
        padded = pad_to_multiple(rgb, 16)
        hidden = self.hidden_map(padded)  # (B, hidden, H'/2, W'/2)
        # upsample the narrow hidden map, then apply the head per pixel: equal to upsampling the head's
        # output (both linear, weights summing to 1), far cheaper, and channels-last for the norm
        hidden = F.interpolate(hidden, size=padded.shape[-2:], mode="bilinear", align_corners=False)[..., :h, :w]
        raw = F.linear(hidden.permute(0, 2, 3, 1), self.head.weight[:, :, 0, 0], self.head.bias)  # (B, H, W, D)
        return F.normalize(raw, dim=-1)  # (B, H, W, D)

    def sample_features(self, rgb: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Unit features at chosen pixels, equal to ``forward(rgb)`` there: ``pixels`` (B, P, 2) integer
        (row, col) of (B, 3, H, W) images with H, W multiples of 16 -> (B, P, D)."""
        h, w = rgb.shape[-2:]
        hidden = self.hidden_map(rgb)  # (B, hidden, H/2, W/2)
        # pixel centres in grid_sample's [-1, 1] (align_corners=False) = F.interpolate(bilinear)'s sampling
        grid = torch.stack([(pixels[..., 1] + 0.5) * (2.0 / w) - 1.0, (pixels[..., 0] + 0.5) * (2.0 / h) - 1.0], -1)
        sampled = F.grid_sample(hidden, grid[:, None].to(hidden.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled[:, :, 0].transpose(1, 2)  # (B, P, hidden)
        raw = F.linear(sampled, self.head.weight[:, :, 0, 0], self.head.bias)  # (B, P, D)
        return F.normalize(raw, dim=-1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H', W') padded at the bottom and right by edge replication to multiples."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
