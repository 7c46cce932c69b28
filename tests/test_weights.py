"""Published weights load into zoo's ResNets and VGGs (``zoo.weights``) and give the
original model's outputs: the original built here with random weights (PyTorch, laid
out as torchvision lays out its models, so the state dict's names are the published
files'; keras.applications' VGG16 as it is), saved the way the published files are,
converted, and compared on the same inputs."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.weights import NOT_BUNDLED, read_safetensors, read_torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _close(got, want, tol=1e-4):
    """Agreement within ``tol``, relative to values beyond 1."""
    err = float(np.abs(got - want).max())
    assert err <= tol * max(1.0, float(np.abs(want).max())), err
    return err


def _torch_models():
    """torch and the originals in torchvision's layout (``benchmarks/torch_resnet.py``)."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import torch_resnet as tv
    finally:
        sys.path.remove(str(BENCHMARKS))
    return torch, tv.TvResNet, tv.TvBasic, tv.TvBottleneck, tv.TvVGG, tv.randomized


def _compare(torch_model, zoo_model, size, seed=0):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(seed).normal(size=(2, size, size, 3)).astype("float32")
    with torch.no_grad():
        want = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = keras.ops.convert_to_numpy(zoo_model(x, training=False))
    return _close(got, want)


def test_resnet18_from_a_torchvision_state_dict_gives_the_originals_outputs(tmp_path):
    torch, ResNet, Basic, _, _, randomized = _torch_models()
    original = randomized(ResNet(Basic, (2, 2, 2, 2)))
    path = tmp_path / "resnet18.pth"
    torch.save(original.state_dict(), path)
    # the reader without PyTorch sees what torch.load sees
    read, loaded = read_torch(path), torch.load(path, weights_only=True)
    assert list(read) == list(loaded)
    assert all(np.array_equal(read[k], loaded[k].numpy()) for k in loaded)
    model = zoo.create_model("resnet18", input_shape=(96, 96, 3), weights=path)
    assert len(model.loaded_weights.loaded) == 2 + 8 * 4 + 3 * 2 + 1  # stem, blocks, shortcuts, fc
    assert model.loaded_weights.skipped == {} and model.loaded_weights.expects == "imagenet"
    _compare(original, model, 96)


def test_resnet50_bottlenecks_and_a_new_classifier(tmp_path):
    torch, ResNet, _, Bottleneck, _, randomized = _torch_models()
    original = randomized(ResNet(Bottleneck, (3, 4, 6, 3)))
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": original.state_dict()}, path)  # a training checkpoint
    model = zoo.create_model("resnet50", input_shape=(64, 64, 3), weights=path)
    _compare(original, model, 64)
    # 10 classes: everything but the classifier, which starts as zoo starts it
    ten = zoo.create_model("resnet50", input_shape=(64, 64, 3), num_classes=10, weights=path)
    assert list(ten.loaded_weights.skipped) == ["head_logits"]
    assert "head_logits" in ten.loaded_weights.line()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ten.get_layer("conv1_conv").kernel),
        keras.ops.convert_to_numpy(model.get_layer("conv1_conv").kernel),
    )
    with pytest.raises(ValueError, match=r"stage1_block1_1_conv cannot take it: the file's"):
        zoo.create_model("resnet34", input_shape=(64, 64, 3), weights=path)  # another depth


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg11_from_torchvision_with_and_without_batch_norm(tmp_path, batch_norm):
    """At width 1/8 (convs 8-64 wide, dense 512): the same layout and names as the
    published files, a test that runs in seconds."""
    torch, _, _, _, VGG, randomized = _torch_models()
    cfg = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]
    original = randomized(VGG(cfg, batch_norm, hidden=512, num_classes=20))
    path = tmp_path / "vgg.pth"
    torch.save(original.state_dict(), path)
    name = "vgg11_bn" if batch_norm else "vgg11"
    model = zoo.create_model(
        name, input_shape=(224, 224, 3), num_classes=20, width_multiplier=0.125, weights=path
    )
    assert model.loaded_weights.skipped == {}
    _compare(original, model, 224)  # the BN variant: conv biases folded into the BN


def test_safetensors_hold_the_same_tensors(tmp_path):
    tensors = {"a.weight": np.arange(6, dtype="float32").reshape(2, 3), "b": np.ones(2, "int64")}
    header, blob = {}, b""
    for name, value in tensors.items():
        data = value.tobytes()
        dtype = {"float32": "F32", "int64": "I64"}[value.dtype.name]
        header[name] = {"dtype": dtype, "shape": list(value.shape),
                        "data_offsets": [len(blob), len(blob) + len(data)]}  # fmt: skip
        blob += data
    text = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + blob)
    read = read_safetensors(path)
    assert all(np.array_equal(read[k], tensors[k]) for k in tensors)


def test_keras_applications_vgg16_notop_gives_its_features_on_rgb(tmp_path):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(1)
    original = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:  # the format keras.applications publishes
        legacy_h5_format.save_weights_to_hdf5_group(f, original)
    model = zoo.create_model("vgg16", input_shape=(64, 64, 3), include_top=False, weights=path)
    assert model.loaded_weights.expects == "caffe" and len(model.loaded_weights.loaded) == 13
    x = np.random.default_rng(0).uniform(-100, 100, size=(2, 64, 64, 3)).astype("float32")
    want = keras.ops.convert_to_numpy(original(x[..., ::-1]))  # it takes BGR
    got = keras.ops.convert_to_numpy(model(x))  # zoo's takes RGB
    _close(got, want)


def test_no_weights_are_bundled_and_a_bad_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        zoo.create_model("resnet18", weights="imagenet")
    assert NOT_BUNDLED in str(err.value) and "download.pytorch.org" in str(err.value)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"nothing of use")
    with pytest.raises(ValueError, match="junk.bin: not a weight file"):
        zoo.create_model("resnet18", weights=junk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="resnet18-152 and vgg11-19"):
            zoo.create_model("mlp", input_shape=(4,), weights=tmp_path / "junk.bin")


def _rgb_folder(root, n=8, size=32):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 60, (size, size, 3)) + 60 + 120 * c
            Image.fromarray(pixels.astype("uint8")).save(root / f"c{c}" / f"{i}.png")
    return root


def test_zoo_train_with_weights_loads_them_and_preprocesses_as_they_expect(tmp_path, capsys):
    """`zoo train --model resnet18 --weights FILE`: the file's layers loaded (the new
    classifier kept as built), the images standardized with ImageNet's statistics
    inside the run's model.keras, the file in config.json; refused without --model."""
    torch, ResNet, Basic, _, _, randomized = _torch_models()
    path = tmp_path / "resnet18.pth"
    torch.save(randomized(ResNet(Basic, (2, 2, 2, 2))).state_dict(), path)
    folder, run = _rgb_folder(tmp_path / "img"), tmp_path / "run"
    from zoo.cli import main

    argv = ["train", str(folder), "--model", "resnet18", "--weights", str(path),
            "--epochs", "1", "--run-dir", str(run)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "weights from resnet18.pth (torchvision): 40 layers loaded" in out
    assert "head_logits (the file's fc is" in out
    config = json.loads((run / "config.json").read_text())
    assert config["weights"] == str(path) and config["normalize"] == "auto"
    packaged = keras.saving.load_model(run / "model.keras", safe_mode=True)
    fixed = packaged.get_layer("preprocess").get_layer("imagenet")
    mean = keras.ops.convert_to_numpy(fixed.mean).ravel()
    np.testing.assert_allclose(mean, [0.485, 0.456, 0.406], rtol=1e-6)
    assert main(["train", str(folder), "--weights", str(path)]) == 2
    assert "needs the model the file is for: --model" in capsys.readouterr().err
