"""Firmware: the C kernels and runtime under ``firmware/``, built for the host or a board.

:mod:`trecsim.firmware.hostlib` compiles ``firmware/kernels/*.c`` with the native C
compiler into a cached shared library and loads it with ctypes, so the kernels can be
tested bit for bit against :mod:`trecsim.golden` without an emulator.
"""
