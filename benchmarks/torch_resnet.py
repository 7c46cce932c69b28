"""The peers' architectures written in PyTorch (there is no CPU build of torchvision to
take them from). For the speed benchmark: ResNet-50 as torchvision builds it (v1.5,
stride on the 3x3 conv, projection shortcuts) and CIFAR ResNet-20 with option A
(zero-padding) shortcuts, as zoo builds them; ``params`` of each equals zoo's count,
which ``speed.py`` checks before it times anything. For the weight conversion's checks:
``TvResNet`` and ``TvVGG``, laid out and named as torchvision's."""

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


# -- torchvision's layout: its module names, so a state dict has the published files'
# keys (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc; features.N,
# classifier.0/3/6). zoo.weights converts those files; tests/test_weights.py and
# benchmarks/weights.py check the conversion against these, randomized.


class TvBasic(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class TvBottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # v1.5
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class TvResNet(nn.Module):
    def __init__(self, block, counts, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True), 1):
            blocks = []
            for b in range(count):
                stride = 2 if b == 0 and i > 1 else 1
                down = None
                if stride != 1 or cin != width * block.expansion:
                    down = nn.Sequential(
                        nn.Conv2d(cin, width * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(width * block.expansion),
                    )
                blocks.append(block(cin, width, stride, down))
                cin = width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TvVGG(nn.Module):
    def __init__(self, cfg, batch_norm, hidden=4096, num_classes=1000):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(cin * 49, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def randomized(model):
    """Every tensor away from its initial value, BN statistics included."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if "running_var" in name:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.is_floating_point():
                fan = t[0].numel() if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / fan) ** 0.5)
    return model.eval()


MODELS = {"resnet50": ResNet50, "cifar_resnet20": CifarResNet20}


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
