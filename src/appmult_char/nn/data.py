"""Small datasets for retraining experiments, generated offline (nothing is downloaded):
scikit-learn's `load_digits` (1,797 8x8 images) and MNIST-1D (the `mnist1d` package's
`make_dataset` with its default arguments; 4,000 training and 1,000 test sequences of 40)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._errors import AppMultError

__all__ = ["Dataset", "load_dataset", "DATASETS"]

DATASETS = ("digits", "mnist1d")


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def batches(self, batch_size: int, generator: torch.Generator | None = None, train: bool = True):
        """Shuffled training batches (with `generator`), or the test set in order."""
        x, y = (self.x_train, self.y_train) if train else (self.x_test, self.y_test)
        order = torch.randperm(len(x), generator=generator) if train and generator is not None else torch.arange(len(x))
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            yield x[index], y[index]


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise AppMultError("the digits dataset needs scikit-learn: pip install 'appmult-char[data]'") from None
    bunch = load_digits()
    x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.tensor(np.random.default_rng(0).permutation(len(x)))  # one fixed split for every seed
    test, train = order[:360], order[360:]
    return Dataset("digits", x[train], y[train], x[test], y[test])


def _mnist1d() -> Dataset:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise AppMultError("the mnist1d dataset needs the mnist1d package: pip install 'appmult-char[data]'") from None
    data = make_dataset(get_dataset_args())
    as_x = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32).unsqueeze(1)  # noqa: E731
    as_y = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    return Dataset("mnist1d", as_x(data["x"]), as_y(data["y"]), as_x(data["x_test"]), as_y(data["y_test"]))


def load_dataset(name: str) -> Dataset:
    """One of `DATASETS`, as float tensors (digits: N x 1 x 8 x 8; mnist1d: N x 1 x 40)."""
    if name == "digits":
        return _digits()
    if name == "mnist1d":
        return _mnist1d()
    raise AppMultError(f"unknown dataset {name!r} ({', '.join(DATASETS)})")
