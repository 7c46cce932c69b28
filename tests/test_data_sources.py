"""Image folders, TFDS names, normalization, augmentation and show_batch, on small
files the tests write themselves."""

import warnings

import numpy as np
import pytest
from PIL import Image

from zoo.data import DataError, load, show_batch


def make_folder(root, classes=("cat", "dog"), n=12, size=(10, 12), mode="L", seed=0):
    """``root/<class>/<i>.png``: class c has mean brightness 60 + 120 c."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = size if mode == "L" else (*size, 3)
            pixels = rng.integers(0, 60, shape) + 60 + 120 * c
            Image.fromarray(pixels.astype("uint8"), mode).save(root / name / f"{i}.png")
    return root


def test_image_folder_loads_with_labels_shapes_and_stratified_splits(tmp_path):
    root = make_folder(tmp_path / "pets")
    loaded = load(root, batch_size=4, val_fraction=0.25, test_fraction=0.25)
    info = loaded.info
    assert info.class_names == ["cat", "dog"] and info.input_shape == (10, 12, 1)
    assert info.label_stats["counts"]["test"] == [3, 3]
    x, y = loaded.arrays("train", preprocessed=False)
    assert x.dtype == np.uint8 and x.shape == (12, 10, 12, 1)
    # Labels follow the folders: dogs are the bright ones.
    assert np.all((x.reshape(12, -1).mean(1) > 150) == (y == 1))
    xb, _ = next(iter(loaded.train))
    assert xb.shape == (4, 10, 12, 1) and 0.2 < float(np.min(xb)) and float(np.max(xb)) <= 1.0


def test_image_folder_resizes_to_image_size_and_warns_about_mixed_sizes(tmp_path):
    root = make_folder(tmp_path / "a", n=6)
    Image.new("L", (20, 30), 200).save(root / "dog" / "big.png")
    with pytest.warns(UserWarning, match="2 sizes; all are resized to the most common, 10x12"):
        loaded = load(root, val_fraction=0, test_fraction=0)
    assert loaded.info.input_shape == (10, 12, 1)
    loaded = load(root, image_size=16, val_fraction=0, test_fraction=0)
    assert loaded.info.input_shape == (16, 16, 1)
    assert next(iter(loaded.train))[0].shape[1:] == (16, 16, 1)


def test_corrupt_image_is_listed_skipped_and_never_crashes(tmp_path):
    root = make_folder(tmp_path / "a", n=6)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = root / "dog" / "0.png"
    (root / "dog" / "truncated.png").write_bytes(good.read_bytes()[:40])
    with pytest.warns(UserWarning, match=r"2 unreadable image file\(s\) left out") as record:
        loaded = load(root, val_fraction=0, test_fraction=0)
    assert "broken.png" in str(record[0].message) and "truncated.png" in str(record[0].message)
    assert loaded.info.num_examples["train"] == 12
    assert sum(len(b[1]) for b in loaded.train) == 12  # a whole epoch runs


def test_mixed_grayscale_and_rgb_warns_and_reads_rgb(tmp_path):
    root = make_folder(tmp_path / "a", n=6)
    make_folder(tmp_path / "a", classes=("cat",), n=2, mode="RGB", seed=1)  # overwrites 0, 1
    with pytest.warns(UserWarning, match="10 of 12 images are grayscale"):
        loaded = load(root, val_fraction=0, test_fraction=0)
    assert loaded.info.input_shape == (10, 12, 3)


def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        load(tmp_path / "empty")
    (tmp_path / "empty" / "cat").mkdir()
    with pytest.raises(DataError, match=r"class folders \(cat\) but no images"):
        load(tmp_path / "empty")
    single = make_folder(tmp_path / "one", classes=("cat",), n=5)
    with pytest.raises(DataError, match="at least two classes"):
        load(single)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="a file zoo cannot read"):
        load(tmp_path / "notes.txt")


def test_per_channel_normalization_uses_training_images_only(tmp_path):
    root = make_folder(tmp_path / "a", n=20, mode="RGB")
    loaded = load(root, normalize="per_channel", seed=3)
    x, _ = loaded.arrays("train")
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x.reshape(-1, 3).std(0), 1.0, atol=1e-3)
    with pytest.raises(DataError, match="does not apply to image data"):
        load(root, normalize="standardize")


def test_augmentation_changes_training_batches_only_and_keeps_labels(tmp_path):
    root = make_folder(tmp_path / "a", n=12)
    plain = load(root, val_fraction=0, test_fraction=0.25, batch_size=64)
    aug = load(root, val_fraction=0, test_fraction=0.25, batch_size=64, augment="translate,rotate")
    (xp, yp), (xa, ya) = next(iter(plain.train)), next(iter(aug.train))
    np.testing.assert_array_equal(yp, ya)  # same seed, same order, same labels
    assert not np.allclose(xp, xa)
    np.testing.assert_array_equal(next(iter(plain.test))[0], next(iter(aug.test))[0])
    with pytest.raises(DataError, match="unknown 'blur'"):
        load(root, augment="flip,blur")
    with pytest.raises(DataError, match="images only"):
        load("iris", augment="flip")


def test_uncached_folder_pipeline_matches_the_cached_one(tmp_path):
    root = make_folder(tmp_path / "a", n=8)
    a = load(root, cache=False, val_fraction=0, test_fraction=0.5)
    b = load(root, cache=True, val_fraction=0, test_fraction=0.5)
    np.testing.assert_array_equal(
        np.concatenate([x for x, _ in a.test]), np.concatenate([x for x, _ in b.test])
    )
    assert sorted(np.concatenate([y for _, y in a.train])) == [0] * 4 + [1] * 4


@pytest.mark.parametrize(
    "mode",
    [
        "mixed",  # gray, colour, palette and a resized image: the default run's case
        pytest.param("L", marks=pytest.mark.slow),
        pytest.param("RGB", marks=pytest.mark.slow),
    ],
)
def test_pixels_kept_from_the_scan_equal_tensorflows_decoding(tmp_path, monkeypatch, mode):
    """The scan keeps the decoded pixels (no second decode); a folder too large to keep
    streams through TensorFlow's decoder. Both give the same arrays."""
    from zoo.data import images

    root = make_folder(tmp_path / "a", n=6, mode="RGB" if mode == "RGB" else "L")
    if mode == "mixed":  # colour, gray and palette images, one of another size
        Image.new("RGB", (12, 10), (10, 200, 30)).save(root / "dog" / "rgb.png")
        Image.new("P", (12, 10), 7).save(root / "cat" / "palette.png")
        Image.new("L", (24, 20), 90).save(root / "cat" / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mixed folder's warnings are tested elsewhere
        kept = load(root, val_fraction=0, test_fraction=0)
        monkeypatch.setattr(images, "KEEP_BYTES", 0)
        streamed = load(root, val_fraction=0, test_fraction=0)
    assert kept.data.x is not None and streamed.data.x is None
    xk, yk = kept.arrays("train", preprocessed=False)
    xs, ys = streamed.arrays("train", preprocessed=False)
    np.testing.assert_array_equal(yk, ys)
    resized = [i for i, p in enumerate(kept.data.files[kept.indices["train"]]) if "big" in p]
    same = np.setdiff1d(np.arange(len(xk)), resized)
    np.testing.assert_array_equal(xk[same], xs[same])
    if resized:  # Pillow's and TensorFlow's antialiased bilinear resizing: rounding apart
        assert np.abs(xk[resized].astype(int) - xs[resized]).max() <= 2


def test_scan_keeps_no_pixels_past_its_budget(tmp_path):
    from zoo.data.images import scan_image_folder

    root = make_folder(tmp_path / "a", n=6)  # 12 images of 10x12 gray: 1,440 bytes
    assert scan_image_folder(root, keep_bytes=1440).pixels is not None
    assert scan_image_folder(root, keep_bytes=1439).pixels is None


def test_show_batch_draws_images_and_tables(tmp_path):
    img = show_batch(load("digits", batch_size=16), path=tmp_path / "digits.png")
    tab = show_batch(load("wine"), "val", path=tmp_path / "wine.png")
    for path in (img, tab):
        assert path.stat().st_size > 5000
        assert Image.open(path).size[0] > 300
    with pytest.raises(ValueError, match="split='dev'"):
        show_batch(load("iris"), "dev")


tfds = pytest.importorskip("tensorflow_datasets")


class TinyShapes(tfds.core.GeneratorBasedBuilder):
    """80 8x8 images, dark or light, with a train and a test split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=["dark", "light"]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(60, 0), "test": self._generate_examples(20, 1)}

    def _generate_examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            image = rng.integers(0, 100, (8, 8, 1)) + 150 * (i % 2)
            yield i, {"image": image.astype("uint8"), "label": i % 2}


def test_tfds_name_reads_a_prepared_data_set_and_keeps_its_test_split(tmp_path):
    TinyShapes(data_dir=tmp_path).download_and_prepare()
    loaded = load("tfds:tiny_shapes", data_dir=tmp_path, val_fraction=0.2)
    info = loaded.info
    assert info.class_names == ["dark", "light"] and info.input_shape == (8, 8, 1)
    assert info.num_examples == {"train": 48, "val": 12, "test": 20}
    x, y = loaded.arrays("test", preprocessed=False)
    assert np.all((x.reshape(20, -1).mean(1) > 120) == (y == 1))


def test_tfds_not_prepared_or_unknown_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=rf"not prepared in {tmp_path}.*tfds build mnist"):
        load("tfds:mnist")
    with pytest.raises(DataError, match="Did you mean tfds:mnist"):
        load("tfds:mnistt")
