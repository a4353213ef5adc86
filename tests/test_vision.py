"""The vision encoder (dpedu/networks/vision.py): Chi et al.'s ResNet-18 with GroupNorm and a spatial softmax, the
crop (random in training, centred when acting), and the frames it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpedu.networks.vision import ResNet18, SpatialSoftmax, VisionEncoder, as_frames


def frames(B=4, shape=(96, 96, 3), seed=0):
    return torch.randint(0, 256, (B, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_resnet18_is_torchvisions_layout_with_groupnorm():
    net = ResNet18(3, 64)
    # torchvision's resnet18 without its fc layer holds 11 176 512 parameters; GroupNorm has BatchNorm's two per
    # channel, so the same layout with GroupNorm has exactly as many.
    assert sum(p.numel() for p in net.parameters()) == 11_176_512
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 1 + 8 * 2 + 3  # the stem, two per block, one per projection shortcut
    assert all(m.num_channels // m.num_groups == 16 for m in norms)  # Chi et al.: 16 channels per group
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3  # 17 weight layers and the 3 projections: the 18th layer is the head, removed
    out = net(torch.zeros(2, 3, 84, 84))
    assert out.shape == (2, 512, 3, 3)  # 84 -> 42 -> 21 -> 11 -> 6 -> 3


def test_no_running_statistics_anywhere():
    """GroupNorm keeps no statistics: a sample's features do not depend on the batch it is in, nor on train/eval."""
    enc = VisionEncoder((32, 32, 3), width=16)
    assert not [name for name, _ in enc.named_buffers()]
    x = frames(3, (32, 32, 3))
    enc.eval()
    alone = enc(x[:1])
    together = enc(x)[:1]
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


def test_spatial_softmax_finds_a_peak():
    h, w = 5, 7
    scores = torch.zeros(1, 2, h, w)
    scores[0, 0, 1, 6] = 50.0  # row 1 of 5, column 6 of 7 (the right edge)
    kp = SpatialSoftmax.expected_position(scores)
    torch.testing.assert_close(kp[0, 0], torch.tensor([1.0, -0.5]), atol=1e-6, rtol=0)
    torch.testing.assert_close(kp[0, 1], torch.zeros(2), atol=1e-6, rtol=0)  # a flat map: the centre
    # Between two equal peaks, the mean position: the keypoint is an expectation, not an argmax.
    scores = torch.zeros(1, 1, h, w)
    scores[0, 0, 2, 0] = scores[0, 0, 2, 6] = 50.0
    torch.testing.assert_close(SpatialSoftmax.expected_position(scores)[0, 0], torch.zeros(2), atol=1e-6, rtol=0)


def test_encoder_shapes_and_gradients():
    enc = VisionEncoder((96, 96, 3), crop=(84, 84), width=16, n_keypoints=32, feature_dim=64)
    out = enc(frames(4), torch.Generator().manual_seed(0))
    assert out.shape == (4, 64)
    out.square().mean().backward()
    assert enc.backbone.stem[0].weight.grad.abs().sum() > 0  # trained end to end, from the first layer


def test_crop_random_in_training_centred_in_eval():
    enc = VisionEncoder((12, 10, 3), crop=(8, 6), width=16)
    x = frames(64, (12, 10, 3))
    enc.train()
    a = enc.crop_frames(x, torch.Generator().manual_seed(1))
    b = enc.crop_frames(x, torch.Generator().manual_seed(1))
    c = enc.crop_frames(x, torch.Generator().manual_seed(2))
    assert a.shape == (64, 8, 6, 3) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)  # seeded: resume and reruns see the same crops
    # Every crop is a window of its own frame, and the windows vary over the batch.
    offsets = set()
    for i in range(64):
        hits = [(t, c) for t in range(5) for c in range(5) if torch.equal(x[i, t:t + 8, c:c + 6], a[i])]
        assert hits, f"crop {i} is not a window of frame {i}"
        offsets.add(hits[0])
    assert len(offsets) > 5
    enc.eval()
    centre = enc.crop_frames(x, torch.Generator().manual_seed(1))
    assert torch.equal(centre, x[:, 2:10, 2:8])
    assert torch.equal(enc(x[:3]), enc(x[:3]))  # acting is deterministic


def test_bad_frames_refused():
    enc = VisionEncoder((96, 96, 3), crop=(84, 84), width=16)
    with pytest.raises(TypeError, match=r"uint8.*float32.*multiply by 255"):
        enc(torch.rand(2, 96, 96, 3))
    with pytest.raises(ValueError, match=r"0\.\.255, got values in -1\.\.255"):
        as_frames(np.full((1, 96, 96, 3), 255, dtype=np.int64) - np.eye(96, dtype=np.int64)[None, :, :, None] * 256,
                  (96, 96, 3))
    with pytest.raises(ValueError, match=r"\(B, 96, 96, 3\).*channels first"):
        enc(torch.zeros(2, 3, 96, 96, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 96, 96, 3\).*got \(96, 96, 3\)"):
        enc(torch.zeros(96, 96, 3, dtype=torch.uint8))
    with pytest.raises(TypeError, match="bool"):
        as_frames(np.zeros((1, 96, 96, 3), dtype=bool), (96, 96, 3))
    ok = as_frames(np.full((1, 96, 96, 3), 7, dtype=np.int32), (96, 96, 3))  # integers in range are fine
    assert ok.dtype == torch.uint8 and int(ok.max()) == 7


@pytest.mark.parametrize("kwargs, match", [
    ({"image_shape": (96, 96)}, "image_shape must be 3 ints"),
    ({"crop": (100, 84)}, "must fit"),
    ({"crop": (84.5, 84)}, "crop must be 2 ints"),
    ({"width": 0}, "width must be an int >= 1"),
    ({"n_keypoints": True}, "n_keypoints must be an int >= 1"),
])
def test_bad_settings_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VisionEncoder(**{"image_shape": (96, 96, 3), **kwargs})


def test_spatial_softmax_of_a_single_row_is_centred():
    """A map one pixel high (a small frame's last ResNet stage) has its row at y = 0, not at an edge."""
    scores = torch.zeros(1, 1, 1, 2)
    scores[0, 0, 0, 1] = 50.0
    torch.testing.assert_close(SpatialSoftmax.expected_position(scores)[0, 0], torch.tensor([1.0, 0.0]), atol=1e-6,
                               rtol=0)
