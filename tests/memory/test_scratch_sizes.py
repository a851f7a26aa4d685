"""The planner's Python mirrors of the kernels' _get_buffer_size functions equal the C, via the host build."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trecsim.firmware import hostlib
from trecsim.memory import scratch

SETTINGS = settings(max_examples=300, deadline=None)


def _lib():
    return hostlib.load()


@SETTINGS
@given(c_in=st.integers(1, 600), c_out=st.integers(1, 600), k=st.integers(1, 7), s=st.integers(1, 3),
       p=st.integers(0, 3))
def test_dense_convolution_scratch_matches_c(c_in, c_out, k, s, p):
    assert scratch.convolve_s8_get_buffer_size(c_in, c_out, k, s, p) == \
        _lib().convolve_s8_get_buffer_size(c_in, c_out, k, s, p)


@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), c_in=st.integers(1, 64), c_out=st.integers(1, 96),
       k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), sub_len=st.integers(1, 40),
       bits=st.integers(0, 17), se=st.booleans())
def test_trec_scratch_matches_c(h, w, c_in, c_out, k, s, p, sub_len, bits, se):
    args = (h, w, c_in, c_out, k, s, p, sub_len, bits)
    if se:
        assert scratch.trec_se_convolve_s8_get_buffer_size(*args) == _lib().trec_se_convolve_s8_get_buffer_size(*args)
    else:
        assert scratch.trec_convolve_s8_get_buffer_size(*args) == _lib().trec_convolve_s8_get_buffer_size(*args)


@SETTINGS
@given(n=st.integers(1, 100_000))
def test_fully_connected_scratch_matches_c(n):
    assert scratch.fully_connected_s8_get_buffer_size(n) == _lib().fully_connected_s8_get_buffer_size(n)
