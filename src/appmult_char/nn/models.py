"""Model definitions for the retraining recipes: an MLP and a small CNN for digits, the
MNIST-1D CNN, and CIFAR-shaped ResNet-20 / ResNet-18 (3 x 32 x 32 inputs, for timing)."""

from __future__ import annotations

from torch import nn

from .._errors import AppMultError

__all__ = ["build_model", "MODELS"]


def mlp(input_shape, classes: int = 10) -> nn.Module:
    size = 1
    for d in input_shape:
        size *= d
    return nn.Sequential(nn.Flatten(), nn.Linear(size, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, classes))


def cnn(input_shape, classes: int = 10) -> nn.Module:
    """Digits (1 x 8 x 8): two 3x3 convolutions, the second with stride 2, then a classifier."""
    c, h, w = input_shape
    return nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * ((h + 1) // 2) * ((w + 1) // 2), classes))


def cnn1d(input_shape, classes: int = 10) -> nn.Module:
    """MNIST-1D (1 x 40): three strided 1-D convolutions, then a classifier."""
    c, length = input_shape
    for _ in range(3):
        length = (length + 2 - 3) // 2 + 1
    return nn.Sequential(nn.Conv1d(c, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Conv1d(32, 32, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Conv1d(32, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32 * length, classes))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = nn.functional.relu(self.bn1(self.conv1(x)))
        return nn.functional.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-shaped ResNet: a 3x3 stem, stages of basic blocks, global pooling, a classifier."""

    def __init__(self, widths: tuple[int, ...], blocks: int, in_channels: int = 3, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, width in enumerate(widths):
            for b in range(blocks):
                layers.append(_Block(cin, width, 2 if b == 0 and i > 0 else 1))
                cin = width
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def resnet20(input_shape=(3, 32, 32), classes: int = 10) -> nn.Module:
    return ResNet((16, 32, 64), 3, input_shape[0], classes)


def resnet18(input_shape=(3, 32, 32), classes: int = 10) -> nn.Module:
    return ResNet((64, 128, 256, 512), 2, input_shape[0], classes)


MODELS = {"mlp": mlp, "cnn": cnn, "cnn1d": cnn1d, "resnet20": resnet20, "resnet18": resnet18}


def build_model(name: str, input_shape, classes: int = 10) -> nn.Module:
    """A fresh model of `MODELS` for inputs of `input_shape` (without the batch dimension)."""
    if name not in MODELS:
        raise AppMultError(f"unknown model {name!r} ({', '.join(MODELS)})")
    return MODELS[name](tuple(input_shape), classes)
