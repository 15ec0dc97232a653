"""A straightforward per-entry implementation of the difference-window definition
(DESIGN.md, "Gradient tables"): the independent check of the vectorized code, and the
baseline of the gradient benchmark. Unsigned, numeric order == raw order."""

from __future__ import annotations

import numpy as np


def window_per_entry(table: np.ndarray, half_window: int, boundary: str = "symmetric"):
    f = table.astype(np.int64)
    rows, cols = f.shape
    w = half_window
    grad_a = np.zeros(f.shape, dtype=np.float32)
    grad_b = np.zeros(f.shape, dtype=np.float32)

    def smooth_b(a, b):
        window = f[a, max(0, b - w):min(cols, b + w + 1)]
        return np.float32(int(window.sum())) / np.float32(len(window))

    def smooth_a(a, b):
        window = f[max(0, a - w):min(rows, a + w + 1), b]
        return np.float32(int(window.sum())) / np.float32(len(window))

    for a in range(rows):
        for b in range(cols):
            if w + 1 <= b <= cols - 2 - w:
                grad_b[a, b] = (smooth_b(a, b + 1) - smooth_b(a, b - 1)) / np.float32(2)
            else:
                grad_b[a, b] = np.float32(f[a].max() - f[a].min()) / np.float32(cols)
            if w + 1 <= a <= rows - 2 - w:
                grad_a[a, b] = (smooth_a(a + 1, b) - smooth_a(a - 1, b)) / np.float32(2)
            else:
                line = f[b, :] if boundary == "reference" else f[:, b]
                grad_a[a, b] = np.float32(line.max() - line.min()) / np.float32(rows)
    return grad_a, grad_b
