"""Helpers of the hardware tests: the committed CifarNet dense firmware of a board and one sample
image, with the golden model's output for it."""

from __future__ import annotations

import functools

from trecsim import boards, data, golden
from trecsim import spec as specmod
from trecsim.firmware.build import build_firmware

BOARDS = ("stm32f469i-disco", "nucleo-f746zg")


@functools.lru_cache(maxsize=None)
def dense_build(board_name: str):
    return build_firmware(specmod.load_trained("cifarnet", "dense"), boards.get_board(board_name))


@functools.lru_cache(maxsize=None)
def sample(index: int = 0):
    """(model input int8, golden logits) of one bundled sample image."""
    spec = specmod.load_trained("cifarnet", "dense")
    images = data.load_sample().images[index:index + 1]
    return golden.model_input(spec, images)[0], golden.run(spec, images).logits[0]
