"""Published weights in zoo's models: the original (torchvision's layout, randomized,
BatchNormalization statistics included) saved as torchvision saves its files, loaded
with ``zoo.create_model(name, weights=path)``, and both run on the same 224x224 batch.
Prints the largest output difference, the largest output (for scale) and the seconds
the conversion took.

    python benchmarks/weights.py                    # resnet18, resnet50, vgg16, vgg16_bn
    python benchmarks/weights.py --models resnet18

Needs PyTorch (``pip install -e ".[torch]"``); zoo itself reads the files without it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine, write_result  # benchmarks/common.py, beside this file

import zoo

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"]  # fmt: skip


def original(name: str):
    import torch_resnet as tv

    if name.startswith("vgg16"):
        return tv.TvVGG(VGG16, batch_norm=name.endswith("_bn"))
    block, counts = {"resnet18": (tv.TvBasic, (2, 2, 2, 2)), "resnet34": (tv.TvBasic, (3, 4, 6, 3)),
                     "resnet50": (tv.TvBottleneck, (3, 4, 6, 3))}[name]  # fmt: skip
    return tv.TvResNet(block, counts)


def calibrated(model):
    """The BatchNormalization statistics set to the activations' own on a random batch,
    as training leaves them: the outputs stay at a trained network's scale (random
    statistics let them grow to 1e4-1e8 through fifty layers)."""
    import torch

    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def measure(name: str, folder: Path, batch: int = 2) -> dict:
    import keras
    import torch
    import torch_resnet as tv

    model = calibrated(tv.randomized(original(name)))
    path = folder / f"{name}.pth"
    torch.save(model.state_dict(), path)
    start = time.perf_counter()
    converted = zoo.create_model(name, input_shape=(224, 224, 3), weights=path)
    seconds = time.perf_counter() - start
    x = np.random.default_rng(0).normal(size=(batch, 224, 224, 3)).astype("float32")
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = keras.ops.convert_to_numpy(converted(x, training=False))
    path.unlink()
    return {
        "model": name,
        "params": zoo.count_params(converted),
        "layers": len(converted.loaded_weights.loaded),
        "diff": float(np.abs(got - want).max()),
        "scale": float(np.abs(want).max()),
        "seconds": seconds,
        "same_class": float(np.mean(got.argmax(1) == want.argmax(1))),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet18,resnet50,vgg16,vgg16_bn")
    args = parser.parse_args(argv)
    lines = ["| model | parameters | layers loaded | max abs diff | max abs output | "
             "top-1 alike | load s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    print("\n".join(lines), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            r = measure(name, Path(tmp))
            rows.append(r)
            cells = [r["model"], f"{r['params']:,}", r["layers"], f"{r['diff']:.1e}",
                     f"{r['scale']:.3g}", f"{r['same_class']:.0%}",
                     f"{r['seconds']:.1f}"]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
            print(lines[-1], flush=True)
    note = ("\n\nThe originals: torchvision's layout (benchmarks/torch_resnet.py), random "
            "weights, BatchNormalization statistics calibrated on a random batch; 224x224, "
            "batch 2. The published files themselves could not be fetched here.")  # fmt: skip
    write_result("weights", machine(torch=True), rows, "\n".join(lines) + note)


if __name__ == "__main__":
    main()
