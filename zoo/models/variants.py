"""Every family's table: the layouts its builder reads and, beside them, each variant's
figures (trainable parameters and forward multiply-accumulates at the default input
size, and where the parameter count comes from). The one source of both: the
builders in this package build from the layouts, ``zoo.registry`` lists one variant
per row, and the tests hold every built model to its figures exactly. Where a paper or
torchvision publishes the parameter count, it is that figure.

Plain data: reading it imports no Keras (``zoo models`` and the CLI's checks of a
model name stay instant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TV = "torchvision {} (He et al. 2015)"
_VGG = "Simonyan & Zisserman 2014; torchvision {}"
_VGG_BN = (
    "torchvision {} less its {:,} conv biases (redundant before BatchNormalization, "
    "so zoo drops them)"
)
_CIFAR = "He et al. 2015, Table 6 (option A shortcuts)"
_ZOO = "zoo (no published figure; held by the tests)"

# ---- layouts ------------------------------------------------------------------------
#: convnet stages, ``(filters, convs)``: the baseline, a few thousand parameters.
TINY_STAGES: tuple[tuple[int, int], ...] = ((8, 1), (16, 1))
#: The default small convnet.
CONVNET_STAGES: tuple[tuple[int, int], ...] = ((32, 2), (64, 2), (128, 2))
#: VGG: convs per stage for each depth (configurations A, B, D, E); widths VGG_WIDTHS.
VGG_STAGES: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_WIDTHS = (64, 128, 256, 512, 512)
#: ResNet: block kind and blocks per stage for each depth (He et al. 2015, Table 1).
RESNET_STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
RESNET_WIDTHS = (64, 128, 256, 512)
#: CIFAR ResNets: the paper's depths (any 6n + 2 builds); stage widths CIFAR_WIDTHS.
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
CIFAR_WIDTHS = (16, 32, 64)


@dataclass(frozen=True)
class Variant:
    """One registered model: its name, the builder's fixed arguments and its figures."""

    name: str
    params: int  # trainable parameters at the family's input shape and classes
    macs: int  # forward multiply-accumulates of convs and dense layers, one example
    source: str  # where the parameter count comes from
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A family: its builder's registered name (``zoo.models.register``), the input
    its figures are counted at, and its variants in table order."""

    builder: str
    input_shape: tuple[int, ...]
    num_classes: int
    variants: tuple[Variant, ...]


_IMAGENET = dict(input_shape=(224, 224, 3), num_classes=1000)
_CIFAR10 = dict(input_shape=(32, 32, 3), num_classes=10)


def _rows(layouts: dict, figures: dict, family: str) -> dict:
    """``figures`` for exactly the depths ``layouts`` has: a layout without figures (or
    figures without a layout) is an error when zoo is imported, not a silent gap."""
    if set(layouts) != set(figures):
        have = f"layouts for {sorted(layouts)}, figures for {sorted(figures)}"
        raise AssertionError(f"{family}: {have}")
    return {d: figures[d] for d in layouts}


#: depth -> (params, MACs), torchvision's counts.
_VGG_FIGURES = {
    11: (132_863_336, 7_609_090_048),
    13: (133_047_848, 11_308_466_176),
    16: (138_357_544, 15_470_264_320),
    19: (143_667_240, 19_632_062_464),
}
#: depth -> (torchvision's params, conv biases zoo drops, MACs).
_VGG_BN_FIGURES = {
    11: (132_868_840, 2_752, 7_609_090_048),
    13: (133_053_736, 2_944, 11_308_466_176),
    16: (138_365_992, 4_224, 15_470_264_320),
    19: (143_678_248, 5_504, 19_632_062_464),
}
_RESNET_FIGURES = {
    18: (11_689_512, 1_814_073_344),
    34: (21_797_672, 3_663_761_408),
    50: (25_557_032, 4_089_184_256),
    101: (44_549_160, 7_801_405_440),
    152: (60_192_808, 11_513_626_624),
}
_CIFAR_FIGURES = {
    20: (269_722, 40_551_040),
    32: (464_154, 68_862_592),
    44: (658_586, 97_174_144),
    56: (853_018, 125_485_696),
    110: (1_727_962, 252_887_680),
}

FAMILIES: dict[str, Family] = {
    "linear": Family("linear", (64,), 10, (Variant("linear", 650, 640, _ZOO),)),
    "mlp": Family("mlp", (64,), 10, (Variant("mlp", 50_826, 50_432, _ZOO),)),
    "convnet": Family(
        "convnet",
        (8, 8, 1),
        10,
        (
            Variant("tiny_convnet", 1_442, 23_200, _ZOO, {"stages": TINY_STAGES}),
            Variant("convnet", 288_170, 2_379_008, _ZOO),
        ),
    ),
    "vgg": Family(
        "vgg",
        **_IMAGENET,
        variants=(
            *(
                Variant(f"vgg{d}", p, m, _VGG.format(f"vgg{d}"), {"depth": d})
                for d, (p, m) in _rows(VGG_STAGES, _VGG_FIGURES, "vgg").items()
            ),
            *(
                Variant(
                    f"vgg{d}_bn",
                    p - b,
                    m,
                    _VGG_BN.format(f"vgg{d}_bn ({p:,})", b),
                    {"depth": d, "batch_norm": True},
                )
                for d, (p, b, m) in _rows(VGG_STAGES, _VGG_BN_FIGURES, "vgg_bn").items()
            ),
        ),
    ),
    "resnet": Family(
        "resnet",
        **_IMAGENET,
        variants=tuple(
            Variant(f"resnet{d}", p, m, _TV.format(f"resnet{d}"), {"depth": d})
            for d, (p, m) in _rows(RESNET_STAGES, _RESNET_FIGURES, "resnet").items()
        ),
    ),
    "cifar_resnet": Family(
        "cifar_resnet",
        **_CIFAR10,
        variants=tuple(
            Variant(f"cifar_resnet{d}", p, m, _CIFAR, {"depth": d})
            for d, (p, m) in _rows(dict.fromkeys(CIFAR_DEPTHS), _CIFAR_FIGURES, "cifar").items()
        ),
    ),
}
