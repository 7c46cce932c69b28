"""Fine-tuning from a checkpoint: copy this file, edit the config block, run it. No
weights can be downloaded here, so the "pretrained" model is made on real data first:
as is, a `convnet` learns digits 0-4 from every training example, and is then
fine-tuned to tell digits 5-9 apart from only 20 labeled examples of each:

    python templates/fine_tuning.py
    python templates/fine_tuning.py --per-class 10
    python templates/fine_tuning.py --checkpoint runs/image-convnet-<time>/model.keras
    python templates/fine_tuning.py --data photos/ --model resnet18 \
        --weights resnet18-f37072fd.pth      # torchvision's published file (zoo.weights)

With ``--weights`` the checkpoint is the published file loaded into ``--model`` (zoo
bundles none; torchvision's .pth for resnet18-152 / vgg*, keras.applications' VGG
.h5), the images are preprocessed as the file expects (ImageNet's mean and std), and
every class of ``--data`` is a target class.

Stages: pretrain on the source classes and save the checkpoint -> new head for the
target classes on the frozen backbone (BatchNormalization in inference mode: its
statistics are the source data's and stay so; checked below) -> unfreeze the last
stage at a 10x lower learning rate -> the same architecture trained from scratch on the
same few examples, for comparison -> evaluate on the target classes' test examples ->
export the fine-tuned model (raw inputs in, verified in a fresh TensorFlow process).
"""

import zoo  # noqa: F401  (first: it turns on TensorFlow's faster CPU kernels, zoo.backend)

# isort: split
import argparse
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from zoo.config import TrainConfig
from zoo.evaluation import evaluate
from zoo.export import export_and_verify
from zoo.finetune import finetune_model, frozen_state, set_trainable, stages
from zoo.optim import compile_model
from zoo.outputs import init_output_bias
from zoo.packaged import save_packaged
from zoo.plots import compare_scores
from zoo.registry import create_model
from zoo.run import load_for, record
from zoo.runfolder import METRICS, new_run_dir, save_model, update_metrics, write_config

# ---- config: edit here (or pass --flags) -----------------------------------------------
CONFIG = TrainConfig(data="digits", model="convnet", epochs=100, learning_rate=3e-4, seed=42)
SOURCE = [0, 1, 2, 3, 4]  # classes the checkpoint learns (ignored with --checkpoint)
TARGET = [5, 6, 7, 8, 9]  # classes to fine-tune to
PER_CLASS = 20  # labeled target examples per class: fine-tuning shines when they are few
HEAD_LR = 1e-3  # the new head alone
UNFROZEN_LR = 1e-4  # then the last stage too, 10x lower so the features are not wrecked


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default=None, help="a saved .keras model of the same inputs")
    p.add_argument("--weights", default=None, help="a published weight file for --model")
    p.add_argument("--data", default=CONFIG.data)
    p.add_argument("--model", default=CONFIG.model)
    p.add_argument("--per-class", type=int, default=PER_CLASS)
    p.add_argument("--epochs", type=int, default=CONFIG.epochs)
    p.add_argument("--seed", type=int, default=CONFIG.seed)
    p.add_argument("--run-dir", default=None)
    a = p.parse_args()
    config = replace(CONFIG, data=a.data, model=a.model, weights=a.weights)
    return replace(config, epochs=a.epochs, seed=a.seed), a


def subset(data, split, classes, per_class=None, seed=0):
    """``split``'s preprocessed examples of ``classes``, labels renumbered 0..n-1;
    at most ``per_class`` of each (drawn with ``seed``)."""
    x, y = data.arrays(split)
    rng = np.random.default_rng(seed)
    rows = []
    for c in classes:
        found = np.flatnonzero(y == c)
        if per_class is not None:
            found = rng.permutation(found)[:per_class]
        rows.extend(found)
    rows = np.sort(np.array(rows))
    return x[rows], np.searchsorted(np.array(classes), y[rows])


def with_classes(config, data, num_classes):
    """``config``'s model for ``data``'s inputs with ``num_classes`` outputs."""
    return create_model(config.model, input_shape=data.info.input_shape,
                        num_classes=num_classes, **config.model_kwargs)  # fmt: skip


def train(model, train_xy, val_xy, epochs, lr, optimizer="adam"):
    compile_model(model, "classification", optimizer=optimizer, learning_rate=lr)
    stop = keras.callbacks.EarlyStopping(patience=15, restore_best_weights=True)
    history = model.fit(*train_xy, validation_data=val_xy, epochs=epochs, batch_size=32,
                        callbacks=[stop], verbose=0)  # fmt: skip
    return len(history.history["loss"])


def accuracy(model, xy):
    return float(np.mean(model.predict(xy[0], verbose=0).argmax(1) == xy[1]))


def main() -> None:
    config, a = parse()
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    config, data = load_for(config)
    run = Path(a.run_dir) if a.run_dir else new_run_dir(f"finetune-{config.model}")
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, config)
    global TARGET
    if a.weights:  # ImageNet's classes are the source: every class of the data is a target
        TARGET = list(range(data.info.num_classes))
    few = subset(data, "train", TARGET, a.per_class, seed=config.seed)
    val = subset(data, "val", TARGET)
    test = subset(data, "test", TARGET)
    print(f"target: {len(few[0])} labeled training examples, {len(test[0])} test examples")

    # 1. The checkpoint: a given one, or the source classes learned from every example.
    checkpoint = Path(a.checkpoint) if a.checkpoint else run / "pretrained.keras"
    if a.weights:
        pretrained = create_model(config.model, input_shape=data.info.input_shape,
                                  num_classes=len(TARGET), weights=a.weights)  # fmt: skip
        print(pretrained.loaded_weights.line())
        save_model(pretrained, checkpoint)
    elif not a.checkpoint:
        pretrained = with_classes(config, data, len(SOURCE))
        xs, ys = subset(data, "train", SOURCE)
        epochs = train(pretrained, (xs, ys), subset(data, "val", SOURCE), config.epochs,
                       config.learning_rate)  # fmt: skip
        print(f"pretrained on classes {SOURCE}: {epochs} epochs, test accuracy "
              f"{accuracy(pretrained, subset(data, 'test', SOURCE)):.4f}")  # fmt: skip
        save_model(pretrained, checkpoint)

    # 2. A new head on the frozen backbone.
    model = finetune_model(checkpoint, len(TARGET), trainable="head")
    init_output_bias(model, few[1])
    before = frozen_state(model)
    epochs_head = train(model, few, val, config.epochs, HEAD_LR)
    moved = [k for k, v in frozen_state(model).items() if not np.array_equal(v, before[k])]
    print(
        f"head only ({epochs_head} epochs): test accuracy {accuracy(model, test):.4f}; "
        f"frozen weights and BN statistics changed: {len(moved)} of {len(before)}"
    )
    head_only = accuracy(model, test)

    # 3. Unfreeze the last stage, lower learning rate.
    opened = set_trainable(model, 1)
    epochs_stage = train(model, few, val, config.epochs, UNFROZEN_LR)
    tuned = accuracy(model, test)
    print(f"+ {', '.join(opened)} unfrozen ({epochs_stage} epochs): test accuracy {tuned:.4f} "
          f"(stages: {', '.join(stages(model))})")  # fmt: skip

    # 4. The same architecture from scratch on the same few examples.
    keras.utils.set_random_seed(config.seed)
    scratch = with_classes(config, data, len(TARGET))
    init_output_bias(scratch, few[1])
    epochs_scratch = train(scratch, few, val, config.epochs, config.learning_rate)
    from_scratch = accuracy(scratch, test)
    print(f"from scratch ({epochs_scratch} epochs): test accuracy {from_scratch:.4f}")

    train_seconds = time.perf_counter() - started

    # 5. Evaluate, compare, export.
    names = [str(data.info.class_names[c]) for c in TARGET]
    evaluation = evaluate(model, test, {"task": "classification", "class_names": names},
                          run_dir=run, train=few, val=val, write_metrics=False)  # fmt: skip
    scores = {"from scratch": from_scratch, "head only": head_only, "fine-tuned": tuned}
    compare_scores(scores, run / "finetune.png", metric="test accuracy",
                   title=f"{a.per_class} examples per class")  # fmt: skip
    target = replace(data.info, class_names=names)  # the target's classes
    save_packaged(model, run / "model.keras", data.preprocess, target)  # raw inputs in
    epochs = epochs_head + epochs_stage  # the fine-tuned model's: head, then unfrozen
    counts = {"train": len(few[0]), "val": len(val[0]), "test": len(test[0])}  # the target's
    record(run, config, evaluation, epochs_this_session=epochs, epochs_run=epochs,
           train_seconds=train_seconds, num_examples=counts, started=started,
           per_class=a.per_class, scores=scores, frozen_changed=moved,
           unfrozen=opened)  # fmt: skip
    update_metrics(run / METRICS, {"export": export_and_verify(model, data, run)})
    print(f"fine-tuning: {tuned - from_scratch:+.4f} accuracy over from scratch; run folder {run}")


if __name__ == "__main__":
    main()
