r"""The vision encoder of Diffusion Policy (Chi et al. 2023, sec. 3.3): camera frames -> one feature vector each.

    frame (H, W, C) uint8, as a camera or gym-pusht gives it
      --crop-->          (h, w, C): a random window while training (augmentation), the centre one when acting
      --[-1, 1]-->       x / 127.5 - 1, channels first (C, h, w)
      --ResNet-18-->     (8 width, h/32, w/32): four stages of two residual blocks, GroupNorm instead of BatchNorm
      --1x1 conv-->      n_keypoints score maps
      --spatial softmax--> each map's softmax over the pixels, and the expected (x, y) under it: 2 n_keypoints numbers
      --Linear-->        feature_dim features

Chi et al.'s two changes to a standard ResNet-18, in their words' substance:
  * **spatial softmax instead of global average pooling** (Levine et al. 2016): an average pool keeps *what* the
    image holds and throws away *where*; a keypoint is a position, which is what a policy that moves things needs.
  * **GroupNorm instead of BatchNorm** (Wu & He 2018): BatchNorm's running statistics are estimated from the weights
    of the last steps, but a diffusion policy acts with an exponential moving average of the weights (EMA), whose
    activations those statistics do not describe; GroupNorm normalises each sample by itself, no statistics kept.
The encoder is trained from scratch, end to end with the denoiser's loss (no pretrained weights: nothing is
downloaded), one encoder per camera view. Sizes: width 64 is the paper's ResNet-18 (11.2 M parameters in the trunk);
width 16 is the course's CPU-sized variant (0.7 M, ~16x fewer multiply-adds), same structure.

Input convention: frames are uint8 in 0..255, channels last, (..., H, W, C), exactly as environments return them;
anything else (floats, values out of range, another size) is refused with an error saying what was expected. The
range [-1, 1] (not ImageNet's mean and std) because nothing here is pretrained: the statistics ImageNet weights
expect mean nothing to a network trained from scratch, and [-1, 1] is the range every other input of the denoiser
lives in (Chi et al. normalise images the same way).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 16 channels per group, Chi et al.'s replacement for BatchNorm (at least one group)."""
    return nn.GroupNorm(max(1, channels // 16), channels)


class BasicBlock(nn.Module):
    """ResNet's basic block (He et al. 2016): relu(x' + norm(conv(relu(norm(conv(x)))))), x' = x or a strided 1x1
    projection where the block halves the resolution or changes the width."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = group_norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = group_norm(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), group_norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.shortcut(x) + self.norm2(self.conv2(h)))


class ResNet18(nn.Module):
    """ResNet-18 without its head (torchvision's layout: a 7x7 stride-2 stem, a max pool, four stages of two basic
    blocks at width, 2, 4, 8 width, each stage after the first halving the resolution), GroupNorm throughout.

    (B, C, h, w) -> (B, 8 width, ~h/32, ~w/32).
    """

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), group_norm(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], width
        for i in range(4):
            c_out = width * 2**i
            stages += [BasicBlock(c_in, c_out, 1 if i == 0 else 2), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class SpatialSoftmax(nn.Module):
    r"""Feature maps (B, C, h, w) -> keypoints (B, n_keypoints, 2), each an expected image position in [-1, 1]^2.

    A 1x1 convolution makes n_keypoints score maps s_j; each becomes a distribution over the pixels,
    p_j(u, v) = softmax_{u,v}(s_j(u, v)), and the keypoint is its mean position:

        x_j = sum_{u,v} p_j(u, v) X(u, v),    y_j = sum_{u,v} p_j(u, v) Y(u, v)

    with X, Y the pixel centres' coordinates, -1 at the left (top) edge's pixel, +1 at the right (bottom) one
    (robomimic's and LeRobot's convention; 0 where the map is one pixel wide or high). A peaked map gives the peak's
    position, to a fraction of a pixel.
    """

    def __init__(self, in_channels: int, n_keypoints: int):
        super().__init__()
        self.score = nn.Conv2d(in_channels, n_keypoints, 1)
        self.n_keypoints = n_keypoints

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.expected_position(self.score(features))

    @staticmethod
    def expected_position(scores: torch.Tensor) -> torch.Tensor:
        """Score maps (B, K, h, w) -> (B, K, 2): (x, y) of each map's softmax-weighted mean pixel."""
        B, K, h, w = scores.shape
        p = torch.softmax(scores.reshape(B, K, h * w), dim=-1).reshape(B, K, h, w)
        xs, ys = (_pixel_coordinates(n, scores) for n in (w, h))
        x = (p.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, then E[X]
        y = (p.sum(dim=3) * ys).sum(dim=-1)
        return torch.stack([x, y], dim=-1)


def _pixel_coordinates(n: int, like: torch.Tensor) -> torch.Tensor:
    """The n pixel centres' coordinates from -1 (first) to +1 (last); 0 for a single pixel (linspace would put it at
    -1, an edge, which a map one pixel high or wide does not have)."""
    if n == 1:
        return torch.zeros(1, device=like.device, dtype=like.dtype)
    return torch.linspace(-1.0, 1.0, n, device=like.device, dtype=like.dtype)


class VisionEncoder(nn.Module):
    """One camera's frames -> features (the pipeline in the module docstring).

    Args:
        image_shape: (H, W, C) of the frames it takes (uint8, channels last).
        crop: (h, w) of the crop, at most (H, W); (H, W) for none. Chi et al.: 84 x 84 of 96 x 96.
        width: channels of the ResNet's first stage (64: the paper's ResNet-18; 16: the CPU-sized variant).
        n_keypoints: spatial-softmax keypoints (Chi et al., via robomimic: 32).
        feature_dim: size of the output feature vector (Chi et al.: 64).
    """

    def __init__(self, image_shape: tuple[int, int, int], crop: tuple[int, int] | None = None, width: int = 64,
                 n_keypoints: int = 32, feature_dim: int = 64):
        super().__init__()
        self.image_shape = _check_shape("image_shape", image_shape, 3)
        H, W, C = self.image_shape
        self.crop = (H, W) if crop is None else _check_shape("crop", crop, 2)
        if self.crop[0] > H or self.crop[1] > W:
            raise ValueError(f"crop {self.crop} must fit in the image's (H, W) = {(H, W)}")
        for name, value in (("width", width), ("n_keypoints", n_keypoints), ("feature_dim", feature_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.backbone = ResNet18(C, width)
        self.keypoints = SpatialSoftmax(self.backbone.out_channels, n_keypoints)
        self.project = nn.Linear(2 * n_keypoints, feature_dim)
        self.feature_dim = feature_dim

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """frames (B, H, W, C) uint8 -> features (B, feature_dim). In training mode each frame gets its own random
        crop (drawn with `generator`); in eval mode, the centre crop."""
        return self.project(self.keypoint_positions(frames, generator).flatten(1))

    def keypoint_positions(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """frames (B, H, W, C) uint8 -> the spatial softmax's keypoints (B, n_keypoints, 2), (x, y) in [-1, 1] of
        the crop."""
        x = to_unit_range(self.crop_frames(frames, generator))  # (B, C, h, w)
        return self.keypoints(self.backbone(x))

    def crop_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, H, W, C) -> (B, h, w, C): random windows in training mode, the centre window in eval mode."""
        frames = as_frames(frames, self.image_shape)
        (H, W, _), (h, w), B = self.image_shape, self.crop, frames.shape[0]
        if not self.training:
            top, left = (H - h) // 2, (W - w) // 2
            return frames[:, top:top + h, left:left + w]
        top = torch.randint(0, H - h + 1, (B, 1), generator=generator, device=frames.device)
        left = torch.randint(0, W - w + 1, (B, 1), generator=generator, device=frames.device)
        rows = top + torch.arange(h, device=frames.device)  # (B, h)
        cols = left + torch.arange(w, device=frames.device)  # (B, w)
        batch = torch.arange(B, device=frames.device)[:, None, None]
        return frames[batch, rows[:, :, None], cols[:, None, :]]  # (B, h, w, C)


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, h, w, C) -> float (B, C, h, w) in [-1, 1], channels first as Conv2d wants."""
    return frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def as_frames(frames, image_shape: tuple[int, int, int], device=None) -> torch.Tensor:
    """frames (B, H, W, C) = (B, *image_shape), integers in 0..255 (a uint8 tensor or array, as environments return
    them) -> a uint8 tensor on `device`; anything else raises an error that says what was expected."""
    frames = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
    dtype = str(frames.dtype).replace("torch.", "")
    if frames.is_floating_point() or frames.is_complex() or frames.dtype == torch.bool:
        hint = " (floats in [0, 1]? multiply by 255 and round to uint8)" if frames.is_floating_point() else ""
        raise TypeError("frames must be integers in 0..255 (uint8, channels last, as environments return them), "
                        f"got dtype {dtype}{hint}")
    shape = tuple(frames.shape)
    if len(shape) != 4 or shape[1:] != tuple(image_shape) or shape[0] < 1:
        channels_first = len(shape) == 4 and shape[1] == image_shape[2] and shape[-1] != image_shape[2]
        raise ValueError(f"frames must have shape (B, H, W, C) = (B, {', '.join(map(str, image_shape))}) with B >= 1, "
                         f"got {shape}" + (" (channels first? frames are channels last)" if channels_first else ""))
    if frames.dtype != torch.uint8:
        low, high = int(frames.min()), int(frames.max())
        if low < 0 or high > 255:
            raise ValueError(f"frames must be in 0..255, got values in {low}..{high} (dtype {dtype})")
        frames = frames.to(torch.uint8)
    return frames.to(device) if device is not None else frames


def _check_shape(name: str, value, length: int) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
        ok = len(out) == length and all(v >= 1 and v == x for v, x in zip(out, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be {length} ints >= 1, got {value!r}")
    return out


class VisuomotorDenoiser(nn.Module):
    """eps_theta(A^k, k, O) from camera frames (Chi et al. sec. 3.3): the condition O is, at every step of the
    observation window, the vision encoder's features of that step's frame beside the low-dimensional observation;
    any denoiser of the course (MLP, U-Net) then reads O as its observation.

        encode(obs (B, To, obs_dim), frames (B, To, H, W, C)) -> O (B, To, feature_dim + obs_dim)   once per plan
        forward(A^k, k, O) -> eps                                                               once per step k

    Encoding is separate from the denoising step so that a plan of S denoising steps runs the encoder once, not S
    times (the features do not depend on A^k or k): DiffusionPolicy and the Trainer call encode, then the denoiser.
    """

    def __init__(self, encoder: VisionEncoder, denoiser: nn.Module):
        super().__init__()
        self.encoder, self.denoiser = encoder, denoiser

    def encode(self, obs: torch.Tensor, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        B, To = frames.shape[:2]
        features = self.encoder(frames.flatten(0, 1), generator).reshape(B, To, -1)  # one encoder pass per frame
        return torch.cat([features, obs], dim=-1)

    def forward(self, x_k: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x_k, k, cond)


def crop_shape(frame_shape: tuple[int, int, int], crop_ratio: float) -> tuple[int, int]:
    """The crop's (h, w): each side times crop_ratio, rounded, at least 1 (Chi et al.: 96 * 0.875 = 84)."""
    return tuple(max(1, round(n * crop_ratio)) for n in frame_shape[:2])
