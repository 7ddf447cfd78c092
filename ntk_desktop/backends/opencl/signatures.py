"""The argument lists of the OpenCL kernels, read from their source: one table per kernel.

Each ``__kernel`` of ``kernels_cl/`` is parsed once into its parameters (name, kind): ``buffer``
(``__global`` pointers), ``int`` (``const int``, passed as int32), ``long`` (``const long``,
int64) and ``real`` (``const real``, the program's float type).  The host passes arguments *by
name* (:func:`bind`); a missing, unknown or misplaced name is an error at the call, not a
silently wrong launch, and the kernel source is the only place the order is written down.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from ..._resources import kernel_source

_KERNEL = re.compile(r"(?:__kernel|GEMM_KERNEL)\b[^;{]*?\bvoid\s+(\w+)\s*\(([^)]*)\)", re.S)
_PARAM = re.compile(r"^(?P<global>__global\s+)?(?:const\s+)?(?P<type>\w+)\s*(?P<ptr>\*)?\s*(?P<name>\w+)$")
_KINDS = {"int": "int", "long": "long", "real": "real"}


def parse(source: str) -> dict:
    """kernel name → ((parameter, kind), ...) for every kernel of ``source``."""
    table = {}
    for m in _KERNEL.finditer(source):
        params = []
        for text in m.group(2).split(","):
            p = _PARAM.match(" ".join(text.split()))
            if p is None:
                raise ValueError(f"cannot read parameter {text.strip()!r} of kernel {m.group(1)}")
            if p.group("ptr"):
                kind = "buffer"
            elif p.group("type") in _KINDS:
                kind = _KINDS[p.group("type")]
            else:
                raise ValueError(f"parameter {p.group('name')} of kernel {m.group(1)} has type {p.group('type')}")
            params.append((p.group("name"), kind))
        table[m.group(1)] = tuple(params)
    return table


@lru_cache(maxsize=None)
def signatures(sources: tuple) -> dict:
    """The tables of every kernel in the named sources (``kernels_cl/<name>.cl``)."""
    table = {}
    for name in sources:
        table.update(parse(kernel_source(name)))
    return table


def bind(table: dict, kernel: str, dtype, args: dict) -> list:
    """The positional argument list of ``kernel`` from ``args`` (name → value), each value
    converted to its parameter's kind (``real``: ``dtype``)."""
    params = table[kernel]
    names = [n for n, _ in params]
    missing = [n for n in names if n not in args]
    extra = [n for n in args if n not in names]
    if missing or extra:
        raise TypeError(f"kernel {kernel}: missing arguments {missing}, unknown arguments {extra}")
    real = np.dtype(dtype).type
    convert = {"int": np.int32, "long": np.int64, "real": real}
    return [args[n] if kind == "buffer" else convert[kind](args[n]) for n, kind in params]
