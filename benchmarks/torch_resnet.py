"""The peers' architectures written in PyTorch for the speed benchmark (there is no
CPU build of torchvision to take them from): ResNet-50 as torchvision builds it (v1.5,
stride on the 3x3 conv, projection shortcuts) and CIFAR ResNet-20 with option A
(zero-padding) shortcuts, as zoo builds them. ``params`` of each equals zoo's count,
which ``speed.py`` checks before it times anything."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5),  # zoo's BN settings
    )


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        out = width * 4
        self.c1 = conv_bn(cin, width, 1)
        self.c2 = conv_bn(width, width, 3, stride)
        self.c3 = conv_bn(width, out, 1)
        self.short = conv_bn(cin, out, 1, stride) if stride != 1 or cin != out else None

    def forward(self, x):
        y = F.relu(self.c1(x))
        y = F.relu(self.c2(y))
        y = self.c3(y)
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNet50(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = conv_bn(3, 64, 7, 2)
        layers, cin = [], 64
        for width, count, stride in zip(
            (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2), strict=True
        ):
            for b in range(count):
                layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * 4
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, padding=1)
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        y = self.c2(F.relu(self.c1(x)))
        short = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra:
            short = F.pad(short, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(y + short)


class CifarResNet20(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = conv_bn(3, 16, 3)
        layers, cin = [], 16
        for width, stride in zip((16, 32, 64), (1, 2, 2), strict=True):
            for b in range(3):
                layers.append(Basic(cin, width, stride if b == 0 else 1))
                cin = width
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stages(F.relu(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {"resnet50": ResNet50, "cifar_resnet20": CifarResNet20}


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
