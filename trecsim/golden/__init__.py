"""The golden model: bit-exact NumPy integer kernels that the C firmware reproduces.

``trecsim.golden.kernels`` has one function per firmware kernel (CMSIS-NN names
without ``arm_``), ``trecsim.golden.runner.run`` interprets a whole ModelSpec. Only
NumPy, trecsim.quant, trecsim.spec and trecsim.errors are imported (no torch).
"""

from __future__ import annotations

from trecsim.golden.kernels import (
    avg_pool_s8,
    concat_s8,
    convolve_s8,
    elementwise_add_s8,
    fully_connected_s8,
    global_avg_pool_s8,
    max_pool_s8,
    relu_s8,
    requantize_s8,
    trec_convolve_s8,
    trec_se_convolve_s8,
)
from trecsim.golden.runner import GoldenResult, model_input, run, run_layer

__all__ = ["GoldenResult", "avg_pool_s8", "concat_s8", "convolve_s8", "elementwise_add_s8", "fully_connected_s8",
           "global_avg_pool_s8", "max_pool_s8", "model_input", "relu_s8", "requantize_s8", "run", "run_layer",
           "trec_convolve_s8", "trec_se_convolve_s8"]
