"""Memory planner: where every activation tensor and kernel scratch buffer of a model lives.

* Lifetimes come from the spec's op order: a tensor lives from the layer that writes it to
  the last layer that reads it; a layer's scratch buffer lives during that layer only. The
  model input and output are not planned: they are the protocol buffers ``trec_input``
  (.noinit) and ``trec_output`` (.bss). Concat copies its inputs into its own output.
* Scratch sizes are the kernels' ``_get_buffer_size`` formulas (:mod:`trecsim.memory.scratch`).
* Arenas are the board's RAM regions that may hold data, contiguous regions of one kind merged
  (F469: sram1..sram3 = 320 KB), in order of preference: DTCM, system SRAM, CCM, then external
  SDRAM. One on-chip region (DTCM or CCM where the board has one, else SRAM) also holds
  .data/.bss/.noinit and the stack at its top; its arena gets what remains.
* Placement: buffers largest first, each into the first arena where a best-fit search over
  the free gaps (among buffers whose lifetimes overlap) finds room. What fits nowhere raises
  :class:`~trecsim.errors.MemoryPlanError` with the region, the bytes over and the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trecsim.boards import Board, MemoryRegion
from trecsim.errors import MemoryPlanError
from trecsim.memory.scratch import layer_scratch_bytes
from trecsim.spec import ModelSpec

__all__ = ["ALIGN", "DEFAULT_STACK_BYTES", "Arena", "Buffer", "LayerMemory", "MemoryPlan", "Placement",
           "arenas_for", "buffers_for", "plan", "static_ram_estimate"]

ALIGN = 8
DEFAULT_STACK_BYTES = 8 * 1024
#: .data/.bss of the runtime itself (status words, fault record, phase timers) with room to spare.
RUNTIME_STATIC_BYTES = 512
#: Bytes per entry of trec_cycles (trec_layer_record: cycles, 7 phases, clusters, status).
LAYER_RECORD_BYTES = 40
_PREFERENCE = {"dtcm": 0, "sram": 1, "ccm": 2, "sdram": 9}
_STATIC_KINDS = ("dtcm", "ccm")


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n % 1024 else f"{n // 1024} KB"


@dataclass(frozen=True)
class Arena:
    """A run of contiguous board regions of one kind that holds planned buffers."""

    name: str  # "sram", "ccm", "dtcm", "sdram": the C array is trec_arena_<name>, section .arena_<name>
    kind: str
    regions: tuple[str, ...]  # board memory names, in address order
    base: int
    size: int
    reserved: int = 0  # .data/.bss/.noinit + stack when this arena is the static one
    on_chip: bool = True

    @property
    def capacity(self) -> int:
        return max(0, self.size - self.reserved)

    @property
    def static(self) -> bool:
        return self.reserved > 0

    @property
    def span(self) -> str:
        return self.regions[0] if len(self.regions) == 1 else f"{self.regions[0]}..{self.regions[-1]}"


@dataclass(frozen=True)
class Buffer:
    name: str  # tensor name, or "<layer>:scratch"
    kind: str  # "tensor" | "scratch"
    size: int
    first: int  # index of the first layer that uses it
    last: int  # index of the last layer that uses it (inclusive)
    layer: str  # the layer that writes it (tensor) or owns it (scratch)

    def overlaps(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Placement:
    buffer: Buffer
    arena: str
    offset: int  # bytes from the start of the arena, ALIGN-aligned


@dataclass(frozen=True)
class LayerMemory:
    """What is live while one layer runs."""

    index: int
    name: str
    op: str
    scratch: int
    live: dict[str, int]  # arena -> bytes of planned buffers live during this layer


@dataclass
class MemoryPlan:
    board: str
    model: str
    mode: str
    stack_bytes: int
    static_bytes: int  # estimate of .data/.bss/.noinit reserved in the static arena
    arenas: tuple[Arena, ...]
    placements: tuple[Placement, ...]
    layers: tuple[LayerMemory, ...] = field(default=())

    def placement(self, name: str) -> Placement:
        for p in self.placements:
            if p.buffer.name == name:
                return p
        raise KeyError(name)

    def arena(self, name: str) -> Arena:
        for a in self.arenas:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def static_arena(self) -> Arena:
        return next(a for a in self.arenas if a.static)

    def arena_bytes(self, name: str) -> int:
        """Size of the arena array: the highest end offset of its placements (0 if unused)."""
        ends = [_align(p.offset + p.buffer.size) for p in self.placements if p.arena == name]
        return max(ends, default=0)

    @property
    def used_arenas(self) -> tuple[Arena, ...]:
        return tuple(a for a in self.arenas if self.arena_bytes(a.name) > 0)

    def to_json(self) -> dict:
        return {
            "board": self.board, "model": self.model, "mode": self.mode, "stack_bytes": self.stack_bytes,
            "static_bytes_reserved": self.static_bytes,
            "arenas": [{"name": a.name, "kind": a.kind, "regions": list(a.regions), "base": a.base, "size": a.size,
                        "reserved": a.reserved, "capacity": a.capacity, "used": self.arena_bytes(a.name)}
                       for a in self.arenas],
            "buffers": [{"name": p.buffer.name, "kind": p.buffer.kind, "layer": p.buffer.layer,
                         "size": p.buffer.size, "first": p.buffer.first, "last": p.buffer.last,
                         "arena": p.arena, "offset": p.offset} for p in self.placements],
            "layers": [{"name": l.name, "op": l.op, "scratch": l.scratch, "live": l.live} for l in self.layers],
        }

    def table(self) -> str:
        """The plan as text: one line per arena, then one per layer."""
        lines = [f"memory plan: {self.model} {self.mode} on {self.board} "
                 f"(stack {_kib(self.stack_bytes)}, static data about {_kib(self.static_bytes)})",
                 f"  {'arena':<7} {'regions':<14} {'base':>10} {'capacity':>10} {'planned':>10}  use"]
        for a in self.arenas:
            used = self.arena_bytes(a.name)
            role = "static data + stack + arena" if a.static else "arena"
            lines.append(f"  {a.name:<7} {a.span:<14} 0x{a.base:08X} {a.capacity:>10} {used:>10}  {role}"
                         f"{'' if a.on_chip else ' (external, slower)'}")
        names = [a.name for a in self.arenas]
        head = "".join(f" {n:>9}" for n in names)
        lines.append(f"  {'layer':<16} {'op':<8} {'scratch':>9}{head}  (bytes live while the layer runs)")
        for l in self.layers:
            cols = "".join(f" {l.live.get(n, 0):>9}" for n in names)
            lines.append(f"  {l.name:<16} {l.op:<8} {l.scratch:>9}{cols}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


def static_ram_estimate(spec: ModelSpec) -> int:
    """.data/.bss/.noinit of the firmware: input, output, cycle table, cluster counts, runtime."""
    clusters = sum(2 * (l.arrays["weight"][0].size // l.attrs["sub_len"]) for l in spec.layers if l.clustered)
    return (_align(spec.tensors[spec.input].size) + _align(spec.tensors[spec.output].size)
            + _align(LAYER_RECORD_BYTES * len(spec.layers)) + _align(clusters) + RUNTIME_STATIC_BYTES)


def _data_regions(board: Board) -> list[MemoryRegion]:
    return [m for m in board.memories if "data" in m.usable and m.kind in _PREFERENCE]


def arenas_for(board: Board, *, stack_bytes: int = DEFAULT_STACK_BYTES, static_bytes: int = 0) -> tuple[Arena, ...]:
    """The board's arenas in order of preference; the static one reserves static data + stack."""
    runs: list[list[MemoryRegion]] = []
    for m in sorted(_data_regions(board), key=lambda m: m.base):
        if runs and runs[-1][-1].kind == m.kind and runs[-1][-1].end == m.base:
            runs[-1].append(m)
        else:
            runs.append([m])
    if not runs:
        raise MemoryPlanError(f"board {board.name} has no RAM region usable for data", where=str(board.toml_path),
                              fix="mark a RAM region usable = [\"data\", \"stack\"] in the board's .toml")
    stack_ok = [r for r in runs if all("stack" in m.usable for m in r) and r[0].kind != "sdram"]
    if not stack_ok:
        raise MemoryPlanError(f"board {board.name} has no on-chip RAM region usable for the stack",
                              where=str(board.toml_path), fix="mark one region usable for \"stack\"")
    static_run = next((r for r in stack_ok if r[0].kind in _STATIC_KINDS), stack_ok[0])
    reserve = _align(static_bytes) + _align(stack_bytes)
    out = []
    used_names: set[str] = set()
    for r in sorted(runs, key=lambda r: (_PREFERENCE[r[0].kind], r[0].base)):
        name = r[0].kind if r[0].kind not in used_names else r[0].name
        used_names.add(name)
        out.append(Arena(name=name, kind=r[0].kind, regions=tuple(m.name for m in r), base=r[0].base,
                         size=r[-1].end - r[0].base, reserved=reserve if r is static_run else 0,
                         on_chip=r[0].kind != "sdram"))
    return tuple(out)


def buffers_for(spec: ModelSpec) -> list[Buffer]:
    """Every planned buffer with its lifetime (layer indices, inclusive)."""
    producer: dict[str, int] = {}
    last_read: dict[str, int] = {}
    for i, layer in enumerate(spec.layers):
        for name in layer.inputs:
            last_read[name] = i
        producer.setdefault(layer.output, i)
    out = []
    for name, i in producer.items():
        if name in (spec.input, spec.output):
            continue
        out.append(Buffer(name, "tensor", spec.tensors[name].size, i, max(i, last_read.get(name, i)),
                          spec.layers[i].name))
    for i, layer in enumerate(spec.layers):
        size = layer_scratch_bytes(spec, layer)
        if size:
            out.append(Buffer(f"{layer.name}:scratch", "scratch", size, i, i, layer.name))
    return out


# --------------------------------------------------------------------------- placement


def _best_fit(buf: Buffer, placed: list[Placement], capacity: int) -> int | None:
    """Lowest-waste gap among the buffers live at the same time; None if none is big enough."""
    busy = sorted((p.offset, _align(p.offset + p.buffer.size)) for p in placed if p.buffer.overlaps(buf))
    best: tuple[int, int] | None = None  # (gap size, offset)
    at = 0
    for start, end in busy + [(capacity, capacity)]:
        gap = start - at
        if gap >= buf.size and (best is None or gap < best[0]):
            best = (gap, at)
        at = max(at, end)
    return None if best is None else best[1]


def plan(spec: ModelSpec, board: Board, *, stack_bytes: int = DEFAULT_STACK_BYTES,
         static_bytes: int | None = None) -> MemoryPlan:
    """Places every activation and scratch buffer of ``spec`` on ``board`` (see the module doc)."""
    if stack_bytes < 1024:
        raise MemoryPlanError(f"a stack of {stack_bytes} bytes is too small", fix="reserve at least 1024 bytes")
    static = static_ram_estimate(spec) if static_bytes is None else static_bytes
    arenas = arenas_for(board, stack_bytes=stack_bytes, static_bytes=static)
    st = next(a for a in arenas if a.static)
    if st.capacity <= 0:
        over = st.reserved - st.size
        raise MemoryPlanError(
            f"the static data ({static} bytes) and stack ({stack_bytes} bytes) need {st.reserved} bytes, "
            f"{over} bytes over region {st.span} ({st.size} bytes)",
            where=f"board {board.name}, model {spec.model} {spec.mode}",
            fix="use a smaller --stack or a model with a smaller input and output")
    buffers = sorted(buffers_for(spec), key=lambda b: (-b.size, b.first, b.name))
    placed: dict[str, list[Placement]] = {a.name: [] for a in arenas}
    result: list[Placement] = []
    for buf in buffers:
        for arena in arenas:
            offset = _best_fit(buf, placed[arena.name], arena.capacity)
            if offset is not None:
                p = Placement(buf, arena.name, offset)
                placed[arena.name].append(p)
                result.append(p)
                break
        else:
            raise _no_room(spec, board, buf, arenas, placed)
    result.sort(key=lambda p: (p.buffer.first, p.arena, p.offset))
    layers = []
    for i, layer in enumerate(spec.layers):
        live: dict[str, int] = {}
        for p in result:
            if p.buffer.first <= i <= p.buffer.last:
                live[p.arena] = live.get(p.arena, 0) + p.buffer.size
        layers.append(LayerMemory(i, layer.name, layer.op, layer_scratch_bytes(spec, layer), live))
    return MemoryPlan(board.name, spec.model, spec.mode, stack_bytes, static, arenas, tuple(result), tuple(layers))


def _no_room(spec: ModelSpec, board: Board, buf: Buffer, arenas: tuple[Arena, ...],
             placed: dict[str, list[Placement]]) -> MemoryPlanError:
    biggest = max(arenas, key=lambda a: a.capacity)
    live = max(sum(p.buffer.size for p in placed[biggest.name] if p.buffer.first <= t <= p.buffer.last)
               for t in range(buf.first, buf.last + 1))
    over = live + buf.size - biggest.capacity
    what = "scratch buffer" if buf.kind == "scratch" else f"output tensor '{buf.name}'"
    shortfall = (f"{over} bytes over" if over > 0 else
                 f"no free gap of that size (the free space is fragmented)")
    has_sdram = any(not a.on_chip for a in arenas)
    fix = ("use space-efficient TREC (se-trec) or smaller L and H for this layer, a smaller --stack"
           + ("" if has_sdram else ", or a board with external SDRAM (stm32f469i-disco)"))
    return MemoryPlanError(
        f"layer {buf.layer} needs a {buf.size}-byte {what}, which fits no RAM region: the largest, "
        f"{biggest.span}, has {biggest.capacity} bytes for buffers ({biggest.size} bytes less {biggest.reserved} "
        f"of static data and stack), {live} of them taken by buffers live at the same time: {shortfall}",
        where=f"board {board.name}, model {spec.model} {spec.mode}", fix=fix)
