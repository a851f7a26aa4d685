"""The trainable TREC convolution: layout, clustering, gradients (TREC.md)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from trecsim.errors import ConfigError  # noqa: E402
from trecsim.train.trec import (  # noqa: E402
    TrecConv2d,
    TrecSetting,
    cluster_centroids,
    hash_ids,
    im2col_khwc,
    trec_conv2d,
    weight_khwc,
)


def _loop_patches(x, k, stride, pad):
    """Patches by explicit loops, (kh, kw, c) order, zero padding."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = torch.zeros(b, ho * wo, k * k * c, dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]  # (B, C, k, k)
            out[:, i * wo + j] = patch.permute(0, 2, 3, 1).reshape(b, -1)
    return out


@pytest.mark.parametrize("k,stride,pad", [(1, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (2, 2, 0)])
def test_im2col_uses_kh_kw_cin_order_and_zero_padding(k, stride, pad):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    assert torch.equal(im2col_khwc(x, (k, k), stride, pad), _loop_patches(x, k, stride, pad))


def test_dense_setting_matches_conv2d_and_weight_order_matches_patches():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    ref = F.conv2d(x, w, stride=2, padding=1)
    got = (im2col_khwc(x, (3, 3), 2, 1) @ weight_khwc(w).t()).transpose(1, 2).reshape(ref.shape)
    torch.testing.assert_close(got, ref)


def test_distinct_clusters_equal_dense_convolution():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = torch.randn(6, 3, 3, 3, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    n = 8 * 8
    ids = torch.arange(n).view(1, n, 1).expand(2, n, 27 // 9).contiguous()  # every position its own cluster
    out, _, clusters = trec_conv2d(x, w, b, stride=1, padding=1, sub_len=9, hash_bits=16, hash_matrix=None, ids=ids)
    torch.testing.assert_close(out, F.conv2d(x, w, b, padding=1))
    assert clusters.tolist() == [[n] * 3] * 2


def test_clusters_are_per_image_and_per_submatrix_means():
    sub = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]], [[10.0, 0.0]]],
                        [[[5.0, 5.0]], [[7.0, 7.0]], [[9.0, 9.0]]]])  # (B=2, N=3, M=1, L=2)
    ids = torch.tensor([[[0], [0], [1]], [[0], [0], [0]]])
    replaced, clusters = cluster_centroids(sub, ids, hash_bits=1)
    assert replaced[0, 0].tolist() == [[2.0, 3.0]] and replaced[0, 1].tolist() == [[2.0, 3.0]]
    assert replaced[0, 2].tolist() == [[10.0, 0.0]]
    assert replaced[1, :, 0].tolist() == [[7.0, 7.0]] * 3  # image 2 is not mixed with image 1
    assert clusters.tolist() == [[2], [1]]


def test_hash_bits_are_sign_of_projection_with_bit_j_weighted_2_to_j():
    sub = torch.tensor([[[[1.0, -1.0]]]])
    r = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])  # projections 1, -1, -1
    assert hash_ids(sub, r).item() == 0b001
    assert hash_ids(sub, -r).item() == 0b110


def test_kernel_reuse_hashes_with_first_h_output_channels_of_each_chunk():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    w = torch.randn(4, 2, 3, 3, dtype=torch.float64)
    _, ids, _ = trec_conv2d(x, w, None, stride=1, padding=0, sub_len=6, hash_bits=3, hash_matrix=None)
    patches = im2col_khwc(x, (3, 3), 1, 0).view(1, 9, 3, 6)
    wk = weight_khwc(w)
    for m in range(3):
        r_m = wk[:3, m * 6:(m + 1) * 6].t()  # (L, H)
        expect = ((patches[:, :, m] @ r_m > 0).long() * torch.tensor([1, 2, 4])).sum(-1)
        assert torch.equal(ids[:, :, m], expect)


@pytest.mark.parametrize("stride,pad,reuse", [(1, 0, False), (1, 1, True), (2, 1, False), (2, 2, True)])
def test_gradients_match_finite_differences_with_assignments_fixed(stride, pad, reuse):
    torch.manual_seed(3)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    hm = None if reuse else torch.randn(9, 2, dtype=torch.float64)
    _, ids, clusters = trec_conv2d(x, w, b, stride=stride, padding=pad, sub_len=9, hash_bits=2, hash_matrix=hm)
    n = ids.shape[1]
    assert int(clusters.max()) < n  # real clusters with several members, not the dense special case

    def f(x, w, b):
        return trec_conv2d(x, w, b, stride=stride, padding=pad, sub_len=9, hash_bits=2, hash_matrix=hm, ids=ids)[0]

    assert torch.autograd.gradcheck(f, (x, w, b), eps=1e-6, atol=1e-6)


def test_gradients_are_the_ones_trec_md_specifies():
    """dW = centroid^T (sum of members' output grads); dx_member = mean cluster output grad . W_m^T."""
    torch.manual_seed(4)
    sub_len, m_count, n, c_out = 3, 2, 5, 4
    patches = torch.randn(1, n, m_count * sub_len, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c_out, m_count * sub_len, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([[[0, 1], [0, 1], [1, 1], [1, 0], [0, 0]]])
    replaced, _ = cluster_centroids(patches.view(1, n, m_count, sub_len), ids, hash_bits=1)
    out = replaced.reshape(1, n, -1) @ w.t()
    g = torch.randn_like(out)
    out.backward(g)
    for m in range(m_count):
        wm = w.detach()[:, m * sub_len:(m + 1) * sub_len]  # (C_out, L)
        for cid in (0, 1):
            members = (ids[0, :, m] == cid).nonzero().flatten()
            if len(members) == 0:
                continue
            g_mean = g[0, members].mean(0)
            for p in members:
                torch.testing.assert_close(patches.grad[0, p, m * sub_len:(m + 1) * sub_len], g_mean @ wm)
    expected_dw = torch.zeros_like(w)
    for m in range(m_count):
        for cid in (0, 1):
            members = (ids[0, :, m] == cid).nonzero().flatten()
            if len(members):
                centroid = patches.detach()[0, members, m * sub_len:(m + 1) * sub_len].mean(0)
                expected_dw[:, m * sub_len:(m + 1) * sub_len] += torch.outer(g[0, members].sum(0), centroid)
    torch.testing.assert_close(w.grad, expected_dw)


def test_layer_validates_l_and_h_naming_the_layer():
    with pytest.raises(ConfigError, match=r"layer conv2.*L=7 does not divide.*K=1600"):
        TrecConv2d("conv2", 64, 64, 5, setting=TrecSetting("trec", 7, 10))
    with pytest.raises(ConfigError, match=r"layer c.*H=17 out of range"):
        TrecConv2d("c", 4, 8, 1, setting=TrecSetting("trec", 2, 17))
    with pytest.raises(ConfigError, match=r"H <= C_out"):
        TrecConv2d("c", 4, 2, 1, setting=TrecSetting("se-trec", 2, 3))


def test_layer_reports_remaining_ratio_and_dense_mode_is_plain_conv():
    torch.manual_seed(5)
    layer = TrecConv2d("c", 3, 8, 3, padding=1, setting=TrecSetting("trec", 9, 4))
    x = torch.rand(2, 3, 8, 8)
    layer(x)
    r = layer.remaining_ratio()
    assert 0 < r <= 16 / 64
    layer.configure(TrecSetting())
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1))
    assert layer.remaining_ratio() is None


def test_centred_hash_bits_follow_the_running_median():
    from trecsim.train.trec import TrecConv2d, TrecSetting
    torch.manual_seed(0)
    # no padding: padded chunks all project to 0 and tie at the median
    conv = TrecConv2d("c", 4, 6, 3, padding=0, setting=TrecSetting("se-trec", 12, 5, True))
    x = torch.randn(8, 4, 9, 9) + 0.7  # off-centre data: the sign hash would be lopsided
    conv.train()
    with torch.no_grad():
        conv(x)
    t = conv.hash_thresholds.clone()
    assert t.shape == (3, 5)
    # each bit splits the batch's sub-vectors in half around the threshold
    from trecsim.train.trec import hash_projections, im2col_khwc, weight_khwc
    sub = im2col_khwc(x, (3, 3), 1, 0).view(8, 49, 3, 12)
    proj = hash_projections(sub, weight_khwc(conv.weight)[:5].detach().t().reshape(3, 12, 5))
    above = (proj > t).float().mean(dim=0)
    assert torch.all((above - 0.5).abs() <= 0.01)  # 392 samples: the median sits on one of them
    with torch.no_grad():
        conv(x + 1.0)  # momentum: the running value moves a tenth of the way
    assert not torch.equal(conv.hash_thresholds, t)
    conv.eval()
    frozen = conv.hash_thresholds.clone()
    with torch.no_grad():
        conv(x * 3)
    assert torch.equal(conv.hash_thresholds, frozen)  # inference does not update it
    state = conv.state_dict()
    other = TrecConv2d("c", 4, 6, 3, padding=1, setting=TrecSetting("se-trec", 12, 5, True))
    other.load_state_dict(state)
    assert torch.equal(other.hash_thresholds, frozen)


def test_centred_bits_need_kernel_reuse():
    from trecsim.errors import ConfigError
    from trecsim.train.trec import TrecConv2d, TrecSetting
    with pytest.raises(ConfigError, match="kernel reuse"):
        TrecConv2d("c", 4, 6, 3, setting=TrecSetting("trec", 12, 5, True))
