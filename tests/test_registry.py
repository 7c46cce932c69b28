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


def test_precision_builds_mixed_layers_with_float32_logits_and_restores_the_policy():
    import keras

    model = create_model("tiny_convnet", precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # left as it was
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(layer.variable_dtype == "float32" for layer in convs)
    assert model.output.dtype == "float32"
    assert create_model("tiny_convnet").layers[1].compute_dtype == "float32"  # the default
    with pytest.raises(ValueError, match="precision='bf16' must be one of"):
        create_model("tiny_convnet", precision="bf16")


def test_load_model_registers_zoo_layers_in_a_fresh_process(tmp_path):
    """A model with a zoo layer (Maxout; the registered models hold none): plain
    ``keras.saving.load_model`` cannot find it in a process that has not imported zoo;
    ``zoo.load_model`` can, with safe mode on."""
    model = create_model("mlp", activation="maxout", batch_norm=True)
    model.save(tmp_path / "m.keras")
    code = (
        "import sys, zoo\n"
        "m = zoo.load_model(sys.argv[1])\n"
        "print(type(m.get_layer('head_fc1_act')).__name__, m.count_params())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["Maxout", str(model.count_params())]
    with pytest.raises(FileNotFoundError, match="no such model file"):
        __import__("zoo").load_model(tmp_path / "missing.keras")


def test_the_registry_holds_the_builders_and_reads_the_families_table():
    """Each variant comes from its family's table (zoo.models.variants), each builder
    is the function its module registered; a model name is checked without Keras."""
    from zoo.models import variants
    from zoo.models.resnet import resnet
    from zoo.registry import builder, builders

    assert list_models("resnet") == [f"resnet{d}" for d in variants.RESNET_STAGES]
    assert list_models("vgg") == [f"vgg{d}{bn}" for bn in ("", "_bn") for d in variants.VGG_STAGES]
    assert builder("resnet34")[0] is resnet and builders()["resnet"] is resnet
    assert {f.builder for f in variants.FAMILIES.values()} == set(builders())
    code = (
        "import sys; from zoo.config import TrainConfig, validate; "
        "validate(TrainConfig(model='resnet18')); "
        "print('keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]


def test_builder_parameters_read_from_source_are_the_signatures():
    """The parameter names ``check_model_args`` reads from the families' source (so a
    wrong model argument is answered without Keras) are the builders' own."""
    import inspect

    from zoo.registry import builder_parameters, builders

    read = builder_parameters()
    assert set(read) == set(builders())
    for name, build in builders().items():
        assert read[name] == list(inspect.signature(build).parameters), name
