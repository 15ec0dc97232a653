"""The second-order term of the loss estimates (FAMES, Eq. 11-12).

For the error vector ``e`` of one layer (its error matrix, flattened), the Hessian of the
loss is taken as ``H = J^T H_z J`` (the model is converged, so the term through the
output Hessian of the layers vanishes): ``J`` the Jacobian of the logits ``z`` with
respect to ``e``, ``H_z`` the Hessian of the mean cross-entropy with respect to the
logits, per sample ``(diag(p) - p p^T) / N``. ``H`` is approximated by its top
eigenpair ``lambda v v^T``, found by power iteration, so the term for a multiplier with
error matrix ``E`` is ``lambda / 2 * <v, E>^2``: one inner product per candidate.

Products with ``J`` come from the layer itself: ``J u`` spreads ``u`` over the layer's
code pairs (``dy[r, c] = s[c] sum_k u[x[r, k], w[c, k]]``) and carries it to the logits
(a Jacobian-vector product, here by double back-propagation); ``J^T h`` back-propagates
``h`` from the logits to the layer output and gathers it into a counting matrix.
"""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError
from .counting import group_parts, layer_counting_matrix

__all__ = ["top_eigenpairs", "second_order", "spread"]


def spread(u, x, w, scale, groups: int):
    """``dy (R, C)``: ``scale[c] * sum_k u[x[r, k], w[c, k]]`` for a matrix ``u`` indexed
    by raw code patterns (the output change of error matrix `u`), per group."""
    import torch

    A, B = u.shape
    C = w.shape[0]
    K, per = w.shape[1], C // groups
    xa, wb = x.long() & (A - 1), w.long() & (B - 1)
    out = torch.zeros((x.shape[0], C), dtype=torch.float64, device=u.device)
    for g in range(groups):
        cols = slice(g * per, (g + 1) * per)
        for k in range(K):
            out[:, cols] += u[xa[:, g * K + k, None], wb[None, cols, k]]
    return out * scale.double()


def _record(store: dict):
    def observe(layer, x_codes, w_codes, scale, groups, y) -> None:
        store.update(x=x_codes.detach().round().long(), w=w_codes.detach().round().long(), scale=scale.detach(),
                     groups=groups, y=y, bits=(layer.act_quant.bits, layer.weight_quant.bits))

    return observe


def top_eigenpairs(model, batch, *, iterations: int = 20, seed: int = 0) -> dict[str, tuple[float, np.ndarray]]:
    """``{layer: (lambda, v)}``: the top eigenpair of each approximate layer's
    error-vector Hessian (see the module docstring) on one ``(input, target)`` batch,
    `iterations` steps of power iteration from a seeded random start."""
    import torch

    from ..nn.convert import approx_layers

    layers = approx_layers(model)
    if not layers:
        raise AppMultError("the model has no approximate layer")
    stores = {name: {} for name in layers}
    modes = {name: layer.forward_mode for name, layer in layers.items()}
    was_training = model.training
    out: dict[str, tuple[float, np.ndarray]] = {}
    try:
        model.eval()
        for name, layer in layers.items():
            layer.set_mode("exact")
            layer.product_observer = _record(stores[name])
        with torch.enable_grad():
            x, _ = batch[0], batch[1]
            z = model(x)
            p = torch.softmax(z.detach().double(), dim=1)
            n = z.shape[0]

            def h_z(v):
                v = v.double()
                return (p * v - p * (p * v).sum(1, keepdim=True)) / n

            generator = torch.Generator().manual_seed(seed)
            for name, s in stores.items():
                y = s["y"]
                a_bits, b_bits = s["bits"]
                probe = torch.zeros_like(z, requires_grad=True)
                (back,) = torch.autograd.grad(z, y, probe, create_graph=True, retain_graph=True)

                def jvp(u):  # J u: the logits' change for error matrix u (double back-propagation)
                    dy = spread(u, s["x"], s["w"], s["scale"], s["groups"]).to(y.dtype)
                    (dz,) = torch.autograd.grad(back, probe, dy, retain_graph=True)
                    return dz

                parts = group_parts(s["x"], s["w"], s["groups"])

                def vjp(h):  # J^T h: back to the layer output, gathered into a counting matrix
                    (dy,) = torch.autograd.grad(z, y, h.to(z.dtype), retain_graph=True)
                    return layer_counting_matrix(parts, dy.double() * s["scale"].double(), a_bits, b_bits)

                u = torch.randn((1 << a_bits, 1 << b_bits), dtype=torch.float64, generator=generator).to(s["x"].device)
                u /= u.norm()
                lam = 0.0
                for _ in range(iterations):
                    hu = vjp(h_z(jvp(u)))
                    lam = float((u * hu).sum())
                    norm = hu.norm()
                    if norm == 0:
                        break
                    u = hu / norm
                out[name] = (lam, u.cpu().numpy())
    finally:
        for name, layer in layers.items():
            layer.set_mode(modes[name])
            layer.product_observer = None
        model.train(was_training)
    return out


def second_order(pairs: dict[str, tuple[float, np.ndarray]], estimates: dict, candidates) -> dict:
    """``{layer: (names, lambda/2 <v, E_k>^2)}`` for the candidates `estimates` lists."""
    from .library import error_matrix

    by_name = {c.name: c for c in candidates}
    out = {}
    for layer, (names, _) in estimates.items():
        lam, v = pairs[layer]
        E = np.stack([error_matrix(by_name[n].lut).ravel() for n in names])
        out[layer] = (names, 0.5 * lam * (E @ v.ravel()) ** 2)
    return out


