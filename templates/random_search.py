"""Random search over a zoo model's hyperparameters with Keras Tuner: copy this file,
edit the config block, run it. As is, it searches the convnet on the bundled digits.

    python templates/random_search.py
    python templates/random_search.py --trials 40 --epochs 30 --dir runs/my-search

The recipe's advice, written out: search at random, not on a grid (with a few
hyperparameters that matter and many that do not, a grid spends its trials repeating
the same values of the ones that matter); search learning rates and regularization
strengths on a log scale; keep the model family fixed; let early stopping end bad
trials; retrain the winner on train + validation and only then look at the test split.

Run it again with the same --dir and it resumes: finished trials are kept, only the
rest run. Everything lands in the search folder: results.md / results.csv (a row per
trial), objective.png, hyperparameters.png, and best/ (retrained, evaluated, exported).
"""

import zoo  # noqa: F401  (first: it turns on TensorFlow's faster CPU kernels, zoo.backend)

# isort: split
import argparse

from tuning.search import random_search

# ---- config: edit here (or pass --flags) -----------------------------------------------
DATA = "digits"  # bundled name, tfds:NAME, a folder of class folders, or a CSV
MODEL = "convnet"  # mlp, convnet, cifar_resnet20..110, vgg11..19(_bn)
TRIALS = 20
EPOCHS = 20  # most epochs per trial; early stopping ends bad ones sooner
SEED = 42  # non-zero: Keras Tuner reads 0 as "no seed"
# Narrow or widen the family's space (tuning/spaces.py lists every entry):
SPACE = {
    "learning_rate": ("log", 1e-4, 1e-2),  # log-uniform, as the notes advise
    "optimizer": ("choice", ["adam", "adamw"]),
    "batch_size": ("choice", [32, 64]),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--model", default=MODEL)
    p.add_argument("--trials", type=int, default=TRIALS)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--dir", default=None, help="search folder (resumed if it exists)")
    p.add_argument("--overwrite", action="store_true", help="start the search over")
    a = p.parse_args()

    result = random_search(
        a.data,
        a.model,
        trials=a.trials,
        epochs=a.epochs,
        seed=a.seed,
        space=SPACE,
        directory=a.dir,
        overwrite=a.overwrite,
    )
    if result.best:
        print(f"results: {result.directory / 'results.md'}")
        print(f"best trial's hyperparameters and test figures: {result.directory / 'best'}")


if __name__ == "__main__":
    main()
