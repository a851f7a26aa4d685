"""Trainable TREC convolution, a drop-in for ``nn.Conv2d`` (TREC.md, "The computation").

The forward pass is written so that autograd yields exactly the gradients TREC.md
asks for, without a custom backward:

* patches are built in (kh, kw, c_in) order, as on the board, and split into
  ``n_sub = K / L`` consecutive sub-vectors of length ``L``;
* each sub-vector gets an ``H``-bit sign-hash ID (non-differentiable, computed
  under ``no_grad``); positions of one image with the same ID in one sub-matrix
  form a cluster;
* each sub-vector is replaced by its cluster's centroid (``index_add`` of the
  members, divided by the count, gathered back). The gradient of a gather of a
  mean is the cluster's mean output gradient for every member, and the weight
  gradient is ``centroid^T @ (sum of the members' output gradients)``;
* a plain GEMM of the replaced patches with the weights. Computing it once per
  cluster (as the board does) or once per position gives the same numbers; the
  per-position form is what a GPU/CPU BLAS likes.

Padding pads with real zero (the input zero point on the board). Hash matrices:
plain TREC owns an ``L x H`` int8-valued buffer (stored in flash on the board);
kernel reuse hashes sub-matrix ``m`` with ``W_m[:, :H]``, the weights of output
channels ``0..H-1`` restricted to chunk ``m`` (a detached view of the weights, so
the hash follows training and needs no storage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trecsim.errors import ConfigError

MODES = ("dense", "trec", "se-trec")
MAX_HASH_BITS = 16


@dataclass(frozen=True)
class TrecSetting:
    """How one conv layer runs: ``dense``, ``trec`` (own hash) or ``se-trec`` (kernel reuse)."""

    mode: str = "dense"
    sub_len: int = 0  # L
    hash_bits: int = 0  # H
    centred: bool = False  # centred hash bits: bit j = [proj_j > t_mj], t the running median (kernel reuse)

    @property
    def clustered(self) -> bool:
        return self.mode != "dense"

    @property
    def kernel_reuse(self) -> bool:
        return self.mode == "se-trec"


def check_setting(layer: str, setting: TrecSetting, k: int, c_out: int) -> None:
    """Raises ConfigError naming the layer when L, H or the mode cannot work for this layer."""
    if setting.mode not in MODES:
        raise ConfigError(f"unknown mode '{setting.mode}'", where=f"layer {layer}",
                          fix=f"use one of: {', '.join(MODES)}")
    if not setting.clustered:
        return
    if setting.sub_len <= 0 or k % setting.sub_len:
        divisors = [d for d in range(1, k + 1) if k % d == 0]
        raise ConfigError(
            f"sub-vector length L={setting.sub_len} does not divide the patch length K={k}",
            where=f"layer {layer}", fix=f"choose L among the divisors of {k}: {divisors}")
    if not 1 <= setting.hash_bits <= MAX_HASH_BITS:
        raise ConfigError(f"hash bits H={setting.hash_bits} out of range",
                          where=f"layer {layer}", fix=f"choose 1 <= H <= {MAX_HASH_BITS}")
    if setting.centred and not setting.kernel_reuse:
        raise ConfigError("centred hash bits are implemented for kernel reuse (se-trec) layers only",
                          where=f"layer {layer}", fix="use mode se-trec for this layer or drop ',centred'")
    if setting.kernel_reuse and setting.hash_bits > c_out:
        raise ConfigError(
            f"kernel reuse needs H <= C_out, but H={setting.hash_bits} and C_out={c_out}",
            where=f"layer {layer}", fix=f"use H <= {c_out} or plain TREC for this layer")


def im2col_khwc(x: torch.Tensor, kernel: tuple[int, int], stride: int, padding: int) -> torch.Tensor:
    """(B, C, H, W) -> patches (B, N, K) with K in (kh, kw, c_in) order, N row-major over outputs."""
    b, c = x.shape[:2]
    kh, kw = kernel
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C*kh*kw, N), (c, kh, kw) order
    n = cols.shape[-1]
    cols = cols.view(b, c, kh * kw, n).permute(0, 3, 2, 1)  # (B, N, kh*kw, C)
    return cols.reshape(b, n, kh * kw * c)


def weight_khwc(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, kh, kw) -> (C_out, K) with K in (kh, kw, c_in) order."""
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)


def hash_projections(sub: torch.Tensor, hash_matrix: torch.Tensor) -> torch.Tensor:
    """Sub-vectors (B, N, M, L) and hash (L, H) or (M, L, H) -> projections (B*N, M, H), no gradient."""
    b, n, m, length = sub.shape
    with torch.no_grad():
        hm = hash_matrix.to(sub.dtype)
        if hm.dim() == 2:
            return (sub.reshape(-1, length) @ hm).reshape(b * n, m, -1)
        proj = torch.bmm(sub.reshape(b * n, m, length).transpose(0, 1), hm)  # (M, B*N, H)
        return proj.transpose(0, 1)  # (B*N, M, H)


def ids_from_projections(proj: torch.Tensor, shape: tuple[int, int, int],
                         thresholds: torch.Tensor | None = None) -> torch.Tensor:
    """Projections (B*N, M, H) -> IDs (B, N, M): bit j = [proj_j > t_mj] (t (M, H), or 0)."""
    with torch.no_grad():
        h = proj.shape[-1]
        powers = (2.0 ** torch.arange(h, device=proj.device, dtype=torch.float64)).to(
            torch.float64 if h > 24 else torch.float32)
        bits = proj > (thresholds.to(proj.dtype) if thresholds is not None else 0)
        ids = bits.to(powers.dtype) @ powers  # exact: at most 2^16 - 1
        return ids.to(torch.int64).reshape(shape)


def hash_ids(sub: torch.Tensor, hash_matrix: torch.Tensor, thresholds: torch.Tensor | None = None) -> torch.Tensor:
    """Sub-vectors (B, N, M, L) and hash (L, H) or (M, L, H) -> IDs (B, N, M), bit j = [proj_j > t_mj]."""
    return ids_from_projections(hash_projections(sub, hash_matrix), tuple(sub.shape[:3]), thresholds)


def cluster_centroids(sub: torch.Tensor, ids: torch.Tensor, hash_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replaces each sub-vector by the mean of its cluster (same image, same sub-matrix, same ID).

    sub (B, N, M, L), ids (B, N, M) -> (replaced (B, N, M, L), clusters per (image, sub-matrix) (B, M)).
    """
    b, n, m, length = sub.shape
    group = (torch.arange(b, device=sub.device).view(b, 1, 1) * m
             + torch.arange(m, device=sub.device).view(1, 1, m))  # (B, 1, M)
    key = (group << hash_bits) | ids  # (B, N, M), unique per (image, sub-matrix, ID)
    uniq, inverse = torch.unique(key.reshape(-1), return_inverse=True)
    counts = torch.bincount(inverse, minlength=uniq.numel()).to(sub.dtype)
    sums = sub.new_zeros(uniq.numel(), length).index_add_(0, inverse, sub.reshape(-1, length))
    centroids = sums / counts.unsqueeze(1)
    per_group = torch.bincount(uniq >> hash_bits, minlength=b * m).view(b, m)
    return centroids.index_select(0, inverse).view(b, n, m, length), per_group


def trec_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, stride: int,
                padding: int, sub_len: int, hash_bits: int, hash_matrix: torch.Tensor | None,
                ids: torch.Tensor | None = None,
                thresholds: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TREC convolution (NCHW in and out).

    ``hash_matrix`` (L, H) is plain TREC; ``None`` means kernel reuse. ``ids`` (B, N, M) may be
    given to hold cluster assignments fixed (gradient checks). ``thresholds`` (M, H) centres the
    hash bits, or is a function of the projections (B*N, M, H) returning them (the running median
    of TrecConv2d). Returns (output, ids, clusters (B, M)).
    """
    b, _, h_in, w_in = x.shape
    c_out, _, kh, kw = weight.shape
    h_out = (h_in + 2 * padding - kh) // stride + 1
    w_out = (w_in + 2 * padding - kw) // stride + 1
    patches = im2col_khwc(x, (kh, kw), stride, padding)  # (B, N, K)
    n, k = patches.shape[1:]
    m = k // sub_len
    sub = patches.view(b, n, m, sub_len)  # (B, N, M, L)
    w_mat = weight_khwc(weight)  # (C_out, K)
    if ids is None:
        if hash_matrix is None:  # kernel reuse: R_m = W_m[:, :H]
            hash_matrix = w_mat[:hash_bits].detach().t().reshape(m, sub_len, hash_bits)
        proj = hash_projections(sub, hash_matrix)
        t = thresholds(proj) if callable(thresholds) else thresholds
        ids = ids_from_projections(proj, (b, n, m), t)
    replaced, clusters = cluster_centroids(sub, ids, hash_bits)
    out = replaced.reshape(b, n, k) @ w_mat.t()  # (B, N, C_out)
    if bias is not None:
        out = out + bias
    out = out.transpose(1, 2).reshape(b, c_out, h_out, w_out)
    return out, ids, clusters


def plain_hash_matrix(sub_len: int, hash_bits: int, seed: int) -> torch.Tensor:
    """A fixed random int8-valued hash matrix (L, H): Gaussian, scaled to use the int8 range."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(sub_len, hash_bits, generator=g, dtype=torch.float64)
    r = torch.round(r / r.abs().max() * 127).clamp(-127, 127)
    r[r == 0] = 1  # a zero column entry would drop an input element from the hash
    return r.to(torch.float32)


class TrecConv2d(nn.Conv2d):
    """nn.Conv2d that runs dense, plain TREC or kernel-reuse TREC per its ``TrecSetting``.

    Square kernels, one stride and one padding for both axes, no groups or dilation
    (what the firmware kernels implement). ``last_clusters`` holds the (B, M) cluster
    counts of the last forward pass, ``remaining_ratio()`` their ratio to B*N*M.
    """

    def __init__(self, name: str, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, setting: TrecSetting = TrecSetting(),
                 hash_seed: int = 0):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.layer_name = name
        self.setting = TrecSetting()
        self.hash_seed = hash_seed
        self.register_buffer("hash_matrix", torch.zeros(0, 0), persistent=True)
        # centred hash bits: running median of each sub-matrix's projections (M, H), like batch norm's
        # running mean; empty when the layer is not centred or before the first training batch
        self.register_buffer("hash_thresholds", torch.zeros(0, 0), persistent=True)
        self.threshold_momentum = 0.1
        self.last_clusters: torch.Tensor | None = None
        self.last_positions = 0
        self.configure(setting)

    @property
    def patch_len(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def configure(self, setting: TrecSetting) -> None:
        check_setting(self.layer_name, setting, self.patch_len, self.out_channels)
        self.setting = setting
        if setting.mode == "trec":
            self.hash_matrix = plain_hash_matrix(setting.sub_len, setting.hash_bits, self.hash_seed).to(
                self.weight.device)
        else:
            self.hash_matrix = torch.zeros(0, 0, device=self.weight.device)
        shape = (self.patch_len // setting.sub_len, setting.hash_bits) if setting.centred else (0, 0)
        if tuple(self.hash_thresholds.shape) != shape:
            self.hash_thresholds = torch.zeros(0, 0, device=self.weight.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The hash matrix's shape depends on the setting; take whatever the checkpoint holds.
        for name in ("hash_matrix", "hash_thresholds"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.setting.clustered:
            self.last_clusters = None
            return super().forward(x)
        out, _, clusters = trec_conv2d(
            x, self.weight, self.bias, stride=self.stride[0], padding=self.padding[0],
            sub_len=self.setting.sub_len, hash_bits=self.setting.hash_bits,
            hash_matrix=self.hash_matrix if self.setting.mode == "trec" else None,
            thresholds=self._thresholds if self.setting.centred else None)
        self.last_clusters = clusters.detach()
        self.last_positions = out.shape[2] * out.shape[3]
        return out

    def _thresholds(self, proj: torch.Tensor) -> torch.Tensor:
        """The centring thresholds (M, H) for projections (B*N, M, H).

        Training updates the running median with this batch's median over every (image,
        position) (the first batch sets it), then uses the running value, as inference does.
        Inference uses the running value; a layer never trained centred takes its batch median.
        """
        if not self.training and self.hash_thresholds.numel() == 0:
            return proj.median(dim=0).values
        if self.training:
            median = proj.median(dim=0).values.detach()  # (M, H)
            if self.hash_thresholds.numel() == 0:
                self.hash_thresholds = median.clone()
            else:
                self.hash_thresholds.mul_(1 - self.threshold_momentum).add_(median, alpha=self.threshold_momentum)
        return self.hash_thresholds

    def remaining_ratio(self) -> float | None:
        if self.last_clusters is None:
            return None
        return float(self.last_clusters.sum()) / (self.last_clusters.numel() * self.last_positions)
