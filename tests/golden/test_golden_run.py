"""trecsim.golden.run on a small hand-built ModelSpec: shapes, kept tensors, composition of the kernels."""

from __future__ import annotations

import numpy as np
import pytest

from trecsim import quant
from trecsim.errors import DataError
from trecsim.golden import (
    GoldenResult,
    concat_s8,
    convolve_s8,
    elementwise_add_s8,
    fully_connected_s8,
    global_avg_pool_s8,
    max_pool_s8,
    run,
    trec_convolve_s8,
    trec_se_convolve_s8,
)
from trecsim.spec import LayerSpec, ModelSpec, SpecError, TensorSpec, validate


def _requant(rng, n, lo=2e-4, hi=4e-3):
    pairs = [quant.quantize_multiplier(float(r)) for r in rng.uniform(lo, hi, n)]
    return np.array([m for m, _ in pairs], np.int32), np.array([s for _, s in pairs], np.int32)


def _conv(rng, name, src, dst, c_in, c_out, k, stride, pad, mode="dense", sub_len=0, hash_bits=0, relu=True):
    mult, shift = _requant(rng, c_out)
    arrays = dict(weight=rng.integers(-127, 128, (c_out, k, k, c_in), dtype=np.int8),
                  bias=rng.integers(-3000, 3000, c_out).astype(np.int32), multiplier=mult, shift=shift)
    attrs = dict(kernel=k, stride=stride, padding=pad, relu=relu, mode=mode)
    if mode != "dense":
        attrs.update(sub_len=sub_len, hash_bits=hash_bits)
    if mode == "trec":
        arrays["hash"] = rng.integers(-127, 128, (sub_len, hash_bits), dtype=np.int8)
    return LayerSpec(name, "conv", (src,), dst, attrs, arrays)


def small_spec(seed: int = 0, input_zero_point: int = 0) -> ModelSpec:
    """conv(trec) -> maxpool -> [conv(se-trec) | conv(dense 1x1)] -> concat -> add(pool) -> gap -> fc."""
    rng = np.random.default_rng(seed)
    t = lambda name, shape, zp, scale=0.05: TensorSpec(name, shape, scale, zp)
    tensors = [t("input", (32, 32, 3), input_zero_point, 1 / 255), t("c1", (16, 16, 6), -20), t("p1", (8, 8, 6), -20),
               t("b1", (8, 8, 4), -9, 0.1), t("b2", (8, 8, 2), -9, 0.1), t("cat", (8, 8, 6), -9, 0.1),
               t("sum", (8, 8, 6), 5, 0.2), t("gap", (6,), 5, 0.2), t("logits", (10,), 3, 0.3)]
    # CMSIS-NN style add: inputs rescaled to twice the larger input scale, output from that scale.
    twice = 2 * max(0.1, 0.05)
    im1, is1 = quant.quantize_multiplier(0.1 / twice)
    im2, is2 = quant.quantize_multiplier(0.05 / twice)
    om, os_ = quant.quantize_multiplier(twice / ((1 << 20) * 0.2))
    add_attrs = dict(left_shift=20, input1_multiplier=im1, input1_shift=is1, input2_multiplier=im2,
                     input2_shift=is2, output_multiplier=om, output_shift=os_, relu=True)
    fm, fs = _requant(rng, 10)
    layers = (
        _conv(rng, "conv1", "input", "c1", 3, 6, 3, 2, 1, "trec", sub_len=9, hash_bits=4),
        LayerSpec("pool1", "maxpool", ("c1",), "p1", dict(kernel=2, stride=2)),
        _conv(rng, "conv2", "p1", "b1", 6, 4, 3, 1, 1, "se-trec", sub_len=6, hash_bits=3),
        _conv(rng, "conv3", "p1", "b2", 6, 2, 1, 1, 0, "dense", relu=False),
        LayerSpec("cat", "concat", ("b1", "b2"), "cat"),
        LayerSpec("add", "add", ("cat", "p1"), "sum", add_attrs),
        LayerSpec("gap", "gap", ("sum",), "gap"),
        LayerSpec("fc", "fc", ("gap",), "logits", dict(relu=False), dict(
            weight=rng.integers(-127, 128, (10, 6), dtype=np.int8),
            bias=rng.integers(-500, 500, 10).astype(np.int32), multiplier=fm, shift=fs)),
    )
    spec = ModelSpec("tiny", "trec", "input", "logits", {x.name: x for x in tensors}, layers)
    validate(spec)
    return spec


def images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def by_hand(spec: ModelSpec, imgs: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The same network composed from the kernels directly, with every parameter spelled out."""
    z = {name: t.zero_point for name, t in spec.tensors.items()}
    L = {layer.name: layer for layer in spec.layers}

    def conv_args(name, src, dst, relu):
        a, arr = L[name].attrs, L[name].arrays
        lo = max(z[dst], -128) if relu else -128
        return (src, -z[L[name].inputs[0]], arr["weight"], arr["bias"], z[dst], arr["multiplier"], arr["shift"],
                a["stride"], a["padding"], lo, 127)

    x = (imgs.astype(np.int16) - 128).astype(np.int8)
    c1, k1 = trec_convolve_s8(*conv_args("conv1", x, "c1", True), 9, 4, L["conv1"].arrays["hash"])
    p1 = max_pool_s8(c1, 2, 2, -128, 127)
    rb = quant.recovery_shift(L["conv2"].arrays["multiplier"], L["conv2"].arrays["shift"])  # int16 recovery
    b1, k2 = trec_se_convolve_s8(*conv_args("conv2", p1, "b1", True), 6, 3, None, rb)
    b2 = convolve_s8(*conv_args("conv3", p1, "b2", False))
    cat = concat_s8([b1, b2])
    a = L["add"].attrs
    total = elementwise_add_s8(cat, p1, -z["cat"], a["input1_multiplier"], a["input1_shift"], -z["p1"],
                               a["input2_multiplier"], a["input2_shift"], a["left_shift"], z["sum"],
                               a["output_multiplier"], a["output_shift"], max(z["sum"], -128), 127)
    g = global_avg_pool_s8(total, -128, 127)
    f = L["fc"].arrays
    logits = fully_connected_s8(g, -z["gap"], f["weight"], f["bias"], z["logits"], f["multiplier"], f["shift"],
                                -128, 127)
    outs = dict(input=x, c1=c1, p1=p1, b1=b1, b2=b2, cat=cat, sum=total, gap=g, logits=logits)
    return outs, dict(conv1=k1, conv2=k2)


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return small_spec()


def test_run_equals_the_composition_of_the_kernels(spec):
    imgs = images(7)
    result = run(spec, imgs, keep_outputs=True, batch=3)
    want, want_clusters = by_hand(spec, imgs)
    assert isinstance(result, GoldenResult)
    assert set(result.outputs) == set(spec.tensors)  # every tensor, the input included
    for name, array in want.items():
        assert result.outputs[name].dtype == np.int8
        assert result.outputs[name].shape == (7, *spec.tensors[name].shape), name
        np.testing.assert_array_equal(result.outputs[name], array, err_msg=name)
    assert set(result.clusters) == {"conv1", "conv2"}
    for name, clusters in want_clusters.items():
        assert result.clusters[name].dtype == np.int32
        np.testing.assert_array_equal(result.clusters[name], clusters)
    assert result.clusters["conv1"].shape == (7, 3) and result.clusters["conv2"].shape == (7, 9)
    np.testing.assert_array_equal(result.logits, want["logits"])
    np.testing.assert_array_equal(result.predictions, np.argmax(want["logits"], axis=1))
    # something non-trivial happened: the network does not collapse to a constant
    assert len({tuple(row) for row in result.logits.tolist()}) > 1


def test_run_without_keep_outputs_keeps_only_the_final_output(spec):
    imgs = images(5, seed=2)
    full = run(spec, imgs, keep_outputs=True)
    lean = run(spec, imgs)
    assert set(lean.outputs) == {"logits"}
    np.testing.assert_array_equal(lean.logits, full.logits)
    assert lean.logits.shape == (5, 10) and lean.predictions.shape == (5,)


def test_batching_does_not_change_results_and_reports_progress(spec):
    imgs = images(5, seed=3)
    calls = []
    one = run(spec, imgs, batch=1, progress=lambda done, total: calls.append((done, total)))
    whole = run(spec, imgs, batch=1000)
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    np.testing.assert_array_equal(one.logits, whole.logits)
    for name in one.clusters:
        np.testing.assert_array_equal(one.clusters[name], whole.clusters[name])


def test_remaining_ratio_and_accuracy(spec):
    imgs = images(4, seed=4)
    result = run(spec, imgs)
    ratios = result.remaining_ratio()
    assert ratios["conv3"] is None  # dense
    assert ratios["conv1"] == pytest.approx(result.clusters["conv1"].sum() / (4 * 3 * 16 * 16))
    assert ratios["conv2"] == pytest.approx(result.clusters["conv2"].sum() / (4 * 9 * 8 * 8))
    assert 0 < ratios["conv1"] <= 16 / 256 and 0 < ratios["conv2"] <= 8 / 64  # at most 2**H clusters
    assert result.accuracy(result.predictions) == 1.0
    assert result.accuracy((result.predictions + 1) % 10) == 0.0
    with pytest.raises(DataError):
        result.accuracy([0, 1])


def test_remaining_ratio_is_one_when_every_position_is_distinct():
    """One TREC conv (8x8 kernel, stride 8: 16 positions, one sub-matrix of L = K = 192) whose hash
    reads 4 pixels that spell each position's number: 16 distinct IDs, nothing removed."""
    rng = np.random.default_rng(5)
    tensors = {"input": TensorSpec("input", (32, 32, 3), 1 / 255, 0), "out": TensorSpec("out", (4, 4, 2), 0.1, 0)}
    m, s = quant.quantize_multiplier(0.001)
    hm = np.zeros((192, 4), np.int8)
    for j in range(4):
        hm[3 * j, j] = 100  # element (kh=0, kw=j, c=0) of the patch
    conv = LayerSpec("c", "conv", ("input",), "out",
                     dict(kernel=8, stride=8, padding=0, relu=False, mode="trec", sub_len=192, hash_bits=4),
                     dict(weight=rng.integers(-127, 128, (2, 8, 8, 3), dtype=np.int8), bias=np.zeros(2, np.int32),
                          multiplier=np.full(2, m, np.int32), shift=np.full(2, s, np.int32), hash=hm))
    spec = ModelSpec("one", "trec", "input", "out", tensors, (conv,))
    validate(spec)
    img = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    for py in range(4):
        for px in range(4):
            for j in range(4):  # v = pixel - 128: positive iff bit j of the position's number
                img[:, py * 8, px * 8 + j, 0] = 255 if (py * 4 + px) >> j & 1 else 0
    result = run(spec, img)
    assert result.clusters["c"].tolist() == [[16], [16]]
    assert result.remaining_ratio() == {"c": 1.0}
    # singleton clusters: TREC is the dense convolution, bit for bit
    x = (img.astype(np.int16) - 128).astype(np.int8)
    a = conv.arrays
    dense = convolve_s8(x, 0, a["weight"], a["bias"], 0, a["multiplier"], a["shift"], 8, 0, -128, 127)
    np.testing.assert_array_equal(result.logits, dense.reshape(2, -1))


def test_run_checks_the_input(spec):
    with pytest.raises(SpecError, match="zero point"):
        run(small_spec(input_zero_point=-128), images(1))
    with pytest.raises(DataError, match="uint8"):
        run(spec, images(2).astype(np.int8))
    with pytest.raises(DataError):
        run(spec, np.zeros((2, 16, 16, 3), np.uint8))


def test_run_on_no_images(spec):
    result = run(spec, np.zeros((0, 32, 32, 3), np.uint8))
    assert result.logits.shape == (0, 10) and result.predictions.shape == (0,)
