"""Spectral-norm entries of old and new PyTorch releases, rewritten to the modern layout."""

from __future__ import annotations

import torch
from torch import Tensor

from ugatit.tools.convert.reading import ConversionError, StateDict


def _spectral_prefixes(sd: StateDict) -> list[str]:
    return [k[: -len("_orig")] for k in sd if k.endswith("_orig")]


def normalise_spectral_norm(sd: StateDict, where: str) -> tuple[StateDict, str]:
    """Rewrite every spectral-normed entry to the modern layout (``_orig``, ``_u``, ``_v``).

    The PyTorch 0.4 layout stores the normalised weight W / sigma instead of ``_v``. Like torch's
    SpectralNormLoadStateDictPreHook we take sigma = |W_orig| / |W| and v = W^+ u (the minimum-norm
    solution of W v = u) rescaled so that u . W v = sigma; only sigma matters for the eval-mode
    weight, and training's power iteration recomputes v from u first. W^+ u is solved through the
    Gram matrix of the reshaped weight's smaller side (torch's hook inverts W^T W, which for the
    global discriminator's 16384-wide layers is slow and, in float32, numerically fragile).
    Returns the new dict and the layout found: "modern", "legacy" or "none".
    """
    prefixes = _spectral_prefixes(sd)
    if not prefixes:
        return dict(sd), "none"
    out = dict(sd)
    layouts = set()
    for prefix in prefixes:
        if prefix + "_u" not in sd:
            raise ConversionError(
                f"{where}: spectral-normed {prefix} has {prefix}_orig but no {prefix}_u; the file "
                "is incomplete."
            )
        if prefix + "_v" in sd:
            layouts.add("modern")
            out.pop(prefix, None)
            continue
        if prefix not in sd:
            raise ConversionError(
                f"{where}: spectral-normed {prefix} has neither {prefix}_v (modern layout) nor "
                f"{prefix} (PyTorch 0.4 layout); the file is incomplete."
            )
        layouts.add("legacy")
        weight_orig, weight, u = sd[prefix + "_orig"], out.pop(prefix), sd[prefix + "_u"]
        out[prefix + "_v"] = _solve_v(weight_orig, weight, u).to(weight_orig.dtype)
    return out, "+".join(sorted(layouts))


def _solve_v(weight_orig: Tensor, weight: Tensor, u: Tensor) -> Tensor:
    mat = weight_orig.reshape(weight_orig.shape[0], -1).double()
    u = u.double()
    sigma = weight_orig.double().norm() / weight.double().norm()
    if mat.shape[0] <= mat.shape[1]:
        v = mat.t() @ _solve_psd(mat @ mat.t(), u)
    else:
        v = _solve_psd(mat.t() @ mat, mat.t() @ u)
    return v * (sigma / torch.dot(u, mat @ v))


def _solve_psd(gram: Tensor, b: Tensor) -> Tensor:
    """gram^+ b for a symmetric positive semi-definite gram: Cholesky, pinv when singular."""
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        return torch.cholesky_solve(b[:, None], factor)[:, 0]
    return torch.linalg.pinv(gram, hermitian=True) @ b
