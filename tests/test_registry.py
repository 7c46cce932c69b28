import subprocess
import sys

import pytest

from zoo import create_model, list_models, model_info
from zoo.registry import families


def test_list_models_covers_every_family():
    names = list_models()
    for expected in [
        "linear",
        "mlp",
        "tiny_convnet",
        "convnet",
        "vgg11",
        "vgg16_bn",
        "resnet18",
        "resnet152",
        "cifar_resnet20",
        "cifar_resnet110",
    ]:
        assert expected in names
    assert set(families()) == {"linear", "mlp", "convnet", "vgg", "resnet", "cifar_resnet"}
    assert list_models("resnet") == [f"resnet{d}" for d in (18, 34, 50, 101, 152)]


def test_model_info_fields():
    info = model_info("resnet50")
    assert info["family"] == "resnet" and info["params"] == 25_557_032
    assert info["flops"] == 2 * info["macs"] and info["input_shape"] == (224, 224, 3)
    assert "torchvision" in info["source"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="resnet50") as err:
        create_model("resnet05")
    assert "Did you mean" in str(err.value)
    with pytest.raises(ValueError, match="family"):
        list_models("transformers")


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="depthh"):
        create_model("resnet18", depthh=3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_classes=0"):
        create_model("mlp", num_classes=0)
    with pytest.raises(ValueError, match="too small"):
        create_model("resnet18", input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="dropout"):
        create_model("convnet", dropout=1.5)
    with pytest.raises(ValueError, match="6n"):
        from zoo.models.cifar_resnet import cifar_resnet

        cifar_resnet(depth=21)


def test_overrides_reach_the_builder():
    model = create_model(
        "convnet",
        input_shape=(16, 16, 3),
        num_classes=4,
        include_top=False,
        pooling="avg",
        width_multiplier=0.5,
    )
    assert model.output_shape == (None, 64)
    assert model.name == "convnet"


def test_reading_the_registry_imports_no_tensorflow():
    code = (
        "import sys, zoo; zoo.list_models(); zoo.model_info('vgg16'); "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
