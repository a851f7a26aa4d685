/*
 * blockhook.c - trecsim's cycle accounting inside Unicorn, as native callbacks.
 *
 * Built by trecsim.emulators.native (gcc -O2 -shared) into the user cache on first use and
 * loaded with ctypes. Unicorn's own functions are handed in as pointers (tc_set_api), so this
 * file needs Unicorn's headers only for the types and constants.
 *
 *   block hook   static cost of the translated block [address, address + size) from prefix sums
 *                (cycles.py computed them), plus the dynamic part: a taken direct branch (M4) or
 *                a mispredicted one (M7, 2-bit counters), instruction fetch from flash behind the
 *                ART accelerator / L1 I-cache (direct-mapped line tags, sequential prefetch),
 *                and the instruction budget (uc_emu_stop when exceeded).
 *   memory hook  only on the flash and SDRAM ranges: data reads from flash through the ART D-cache
 *                or the M7 D-cache, and the SDRAM latency per access.
 *   write hook   only in write-tracking mode: the lowest and highest byte written per range.
 *   DWT page     (MMIO) CYCCNT reads the model's cycle count; CTRL and the rest are plain storage.
 *   UART page    (MMIO) the console USART: status reads say "transmitter empty", data register
 *                writes are captured with the cycle count at which they happened.
 * Every figure is a model estimate (ARCHITECTURE.md, "Cycles").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicorn/unicorn.h>

typedef uc_err (*hook_add_fn)(uc_engine *, uc_hook *, int, void *, void *, uint64_t, uint64_t, ...);
typedef uc_err (*mmio_map_fn)(uc_engine *, uint64_t, size_t, uc_cb_mmio_read_t, void *, uc_cb_mmio_write_t, void *);
typedef uc_err (*emu_stop_fn)(uc_engine *);

enum { KIND_NONE = 0, KIND_DIRECT_COND = 1, KIND_DIRECT = 2, KIND_INDIRECT = 3 };
#define STACK_PAINT 0x5AC3A55Cu /* TREC_STACK_PAINT of firmware/runtime/trec_runtime.h */

enum { MAX_LINES = 4096, BP_SIZE = 4096, MAX_TRACK = 16 };

/* Parameters set by tc_param (ids shared with native.py). */
enum {
    P_M7 = 0,
    P_TAKEN_EXTRA,     /* M4: taken branch - not taken */
    P_MISPREDICT,      /* M7 */
    P_FLASH_BASE,
    P_FLASH_END,
    P_FLASH_WS,        /* wait states of a flash access that misses the ART / cache */
    P_ILINE_BYTES,     /* instruction cache (ART I-cache or L1 I-cache) line */
    P_ILINES,
    P_DLINE_BYTES,
    P_DLINES,
    P_SDRAM_BASE,
    P_SDRAM_END,
    P_SDRAM_LATENCY,
    P_BUDGET,          /* instructions; 0 = none */
    P_UART_STATUS_OFF, /* offsets in the UART page */
    P_UART_DATA_OFF,
    P_UART_STATUS_VAL,
    P_COUNT
};

typedef struct {
    uint64_t lo, hi; /* range to watch [lo, hi) */
    uint64_t min, max; /* lowest and one past the highest byte written; min = ~0 if none */
} track_t;

typedef struct {
    hook_add_fn hook_add;
    mmio_map_fn mmio_map;
    emu_stop_fn emu_stop;
    int64_t p[P_COUNT];
    /* static tables (owned by Python) */
    uint64_t base, n;
    const uint64_t *cost, *insns;
    const uint8_t *end_kind, *target_extra;
    /* dynamic state */
    uint64_t cycles, instructions, blocks, unknown_blocks, budget_hit;
    uint64_t flash_fetch_misses, flash_data_misses, sdram_accesses, taken, mispredicts;
    uint64_t prev_end;
    int prev_kind;
    uint64_t iline_tag[MAX_LINES], dline_tag[MAX_LINES];
    uint64_t last_iline;
    uint8_t bp[BP_SIZE];
    /* DWT */
    uint32_t dwt[1024];
    uint64_t cyccnt_zero; /* cycles at which CYCCNT was 0 */
    /* UART */
    uint32_t uart[1024];
    uint8_t *uart_chars;
    uint64_t *uart_cycles;
    size_t uart_len, uart_cap;
    /* write tracking */
    track_t track[MAX_TRACK];
    int ntrack;
    uc_hook hooks[8];
} tc_state;

void *tc_create(void)
{
    tc_state *s = calloc(1, sizeof(tc_state));
    if (!s) {
        return NULL;
    }
    s->uart_cap = 1 << 16;
    s->uart_chars = malloc(s->uart_cap);
    s->uart_cycles = malloc(s->uart_cap * sizeof(uint64_t));
    return s;
}

void tc_free(void *st)
{
    tc_state *s = st;
    if (s) {
        free(s->uart_chars);
        free(s->uart_cycles);
        free(s);
    }
}

void tc_set_api(void *st, void *hook_add, void *mmio_map, void *emu_stop)
{
    tc_state *s = st;
    s->hook_add = (hook_add_fn)hook_add;
    s->mmio_map = (mmio_map_fn)mmio_map;
    s->emu_stop = (emu_stop_fn)emu_stop;
}

void tc_param(void *st, int id, int64_t value)
{
    tc_state *s = st;
    if (id >= 0 && id < P_COUNT) {
        s->p[id] = value;
    }
}

void tc_set_code(void *st, uint64_t base, uint64_t n, const uint64_t *cost, const uint64_t *insns,
                 const uint8_t *end_kind, const uint8_t *target_extra)
{
    tc_state *s = st;
    s->base = base;
    s->n = n;
    s->cost = cost;
    s->insns = insns;
    s->end_kind = end_kind;
    s->target_extra = target_extra;
}

void tc_reset(void *st)
{
    tc_state *s = st;
    s->cycles = s->instructions = s->blocks = s->unknown_blocks = s->budget_hit = 0;
    s->flash_fetch_misses = s->flash_data_misses = s->sdram_accesses = s->taken = s->mispredicts = 0;
    s->prev_end = 0;
    s->prev_kind = KIND_NONE;
    memset(s->iline_tag, 0xFF, sizeof s->iline_tag);
    memset(s->dline_tag, 0xFF, sizeof s->dline_tag);
    s->last_iline = ~(uint64_t)0;
    memset(s->bp, 1, sizeof s->bp); /* weakly not taken */
    s->cyccnt_zero = 0;
    s->uart_len = 0;
    for (int i = 0; i < s->ntrack; i++) {
        s->track[i].min = ~(uint64_t)0;
        s->track[i].max = 0;
    }
}

int tc_add_track(void *st, uint64_t lo, uint64_t hi)
{
    tc_state *s = st;
    if (s->ntrack >= MAX_TRACK) {
        return -1;
    }
    s->track[s->ntrack].lo = lo;
    s->track[s->ntrack].hi = hi;
    s->track[s->ntrack].min = ~(uint64_t)0;
    s->track[s->ntrack].max = 0;
    return s->ntrack++;
}

void tc_track_result(void *st, int i, uint64_t *out)
{
    tc_state *s = st;
    out[0] = s->track[i].min;
    out[1] = s->track[i].max;
}

/* cycles, instructions, blocks, unknown_blocks, budget_hit, flash_fetch_misses, flash_data_misses,
 * sdram_accesses, taken, mispredicts */
void tc_counters(void *st, uint64_t *out)
{
    tc_state *s = st;
    out[0] = s->cycles;
    out[1] = s->instructions;
    out[2] = s->blocks;
    out[3] = s->unknown_blocks;
    out[4] = s->budget_hit;
    out[5] = s->flash_fetch_misses;
    out[6] = s->flash_data_misses;
    out[7] = s->sdram_accesses;
    out[8] = s->taken;
    out[9] = s->mispredicts;
}

size_t tc_uart(void *st, uint8_t *chars, uint64_t *cycles, size_t cap)
{
    tc_state *s = st;
    size_t n = s->uart_len < cap ? s->uart_len : cap;
    if (chars) {
        memcpy(chars, s->uart_chars, n);
    }
    if (cycles) {
        memcpy(cycles, s->uart_cycles, n * sizeof(uint64_t));
    }
    return s->uart_len;
}

/* ------------------------------------------------------------------ block hook */

static inline uint64_t fetch_cost(tc_state *s, uint64_t start, uint64_t end)
{
    uint64_t extra = 0;
    uint64_t lb = (uint64_t)s->p[P_ILINE_BYTES];
    uint64_t nl = (uint64_t)s->p[P_ILINES];
    for (uint64_t line = start / lb; line <= (end - 1) / lb; line++) {
        uint64_t slot = line % nl;
        if (s->iline_tag[slot] != line) {
            s->iline_tag[slot] = line;
            /* a miss on the line after the last one fetched was prefetched */
            if (line != s->last_iline + 1) {
                extra += (uint64_t)s->p[P_FLASH_WS];
                s->flash_fetch_misses++;
            }
        }
        s->last_iline = line;
    }
    return extra;
}

static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    tc_state *s = user;
    uint64_t cost, end = address + size;
    s->blocks++;
    if (address >= s->base && end <= s->base + 2 * s->n && size) {
        uint64_t i = (address - s->base) >> 1, j = (end - s->base) >> 1;
        cost = s->cost[j] - s->cost[i];
        s->instructions += s->insns[j] - s->insns[i];
        if (s->prev_kind == KIND_DIRECT_COND || s->prev_kind == KIND_DIRECT) {
            int taken = address != s->prev_end;
            if (!s->p[P_M7]) {
                if (taken) {
                    cost += (uint64_t)s->p[P_TAKEN_EXTRA] + s->target_extra[i];
                    s->taken++;
                }
            } else if (s->prev_kind == KIND_DIRECT_COND) {
                uint8_t *c = &s->bp[(s->prev_end >> 1) & (BP_SIZE - 1)];
                if ((*c >= 2) != taken) {
                    cost += (uint64_t)s->p[P_MISPREDICT];
                    s->mispredicts++;
                }
                if (taken && *c < 3) {
                    (*c)++;
                } else if (!taken && *c > 0) {
                    (*c)--;
                }
                s->taken += (uint64_t)taken;
            }
        }
        s->prev_kind = s->end_kind[j];
    } else {
        /* code outside the modelled ranges: one cycle per halfword, a rough figure */
        cost = size / 2;
        s->instructions += size / 2;
        s->unknown_blocks++;
        s->prev_kind = KIND_NONE;
    }
    if (address >= (uint64_t)s->p[P_FLASH_BASE] && address < (uint64_t)s->p[P_FLASH_END] && size) {
        cost += fetch_cost(s, address, end);
    }
    s->prev_end = end;
    s->cycles += cost;
    if (s->p[P_BUDGET] && s->instructions > (uint64_t)s->p[P_BUDGET] && !s->budget_hit) {
        s->budget_hit = 1;
        s->emu_stop(uc);
    }
}

/* ------------------------------------------------------------------ memory hooks */

static void on_flash_read(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user)
{
    tc_state *s = user;
    (void)uc; (void)type; (void)size; (void)value;
    uint64_t line = address / (uint64_t)s->p[P_DLINE_BYTES];
    uint64_t slot = line % (uint64_t)s->p[P_DLINES];
    if (s->dline_tag[slot] != line) {
        s->dline_tag[slot] = line;
        s->cycles += (uint64_t)s->p[P_FLASH_WS];
        s->flash_data_misses++;
    }
}

static void on_sdram(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user)
{
    tc_state *s = user;
    (void)uc; (void)type; (void)address; (void)size; (void)value;
    s->cycles += (uint64_t)s->p[P_SDRAM_LATENCY];
    s->sdram_accesses++;
}

static void on_write_track(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user)
{
    tc_state *s = user;
    (void)uc; (void)type;
    if (size == 4 && (uint32_t)value == STACK_PAINT) {
        return; /* the runtime painting its stack (Reset_Handler), not a use of it */
    }
    for (int i = 0; i < s->ntrack; i++) {
        track_t *t = &s->track[i];
        if (address >= t->lo && address < t->hi) {
            if (address < t->min) {
                t->min = address;
            }
            if (address + (uint64_t)size > t->max) {
                t->max = address + (uint64_t)size;
            }
        }
    }
}

/* ------------------------------------------------------------------ MMIO pages */

static uint64_t dwt_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    tc_state *s = user;
    (void)uc; (void)size;
    if (offset == 4) {
        if (s->dwt[0] & 1u) {
            return (uint32_t)(s->cycles - s->cyccnt_zero);
        }
        return s->dwt[1];
    }
    return s->dwt[(offset >> 2) & 1023];
}

static void dwt_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    tc_state *s = user;
    (void)uc; (void)size;
    if (offset == 4) {
        s->cyccnt_zero = s->cycles - (uint32_t)value;
        s->dwt[1] = (uint32_t)value;
        return;
    }
    if (offset == 0 && ((uint32_t)value & 1u) && !(s->dwt[0] & 1u)) {
        s->cyccnt_zero = s->cycles - s->dwt[1]; /* counting starts from the stored value */
    }
    if (offset == 0 && !((uint32_t)value & 1u) && (s->dwt[0] & 1u)) {
        s->dwt[1] = (uint32_t)(s->cycles - s->cyccnt_zero);
    }
    s->dwt[(offset >> 2) & 1023] = (uint32_t)value;
}

static uint64_t uart_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    tc_state *s = user;
    (void)uc; (void)size;
    if ((int64_t)offset == s->p[P_UART_STATUS_OFF]) {
        return s->uart[(offset >> 2) & 1023] | (uint32_t)s->p[P_UART_STATUS_VAL];
    }
    return s->uart[(offset >> 2) & 1023];
}

static void uart_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    tc_state *s = user;
    (void)uc; (void)size;
    if ((int64_t)offset == s->p[P_UART_DATA_OFF]) {
        if (s->uart_len == s->uart_cap) {
            size_t cap = s->uart_cap * 2;
            uint8_t *c = realloc(s->uart_chars, cap);
            uint64_t *t = c ? realloc(s->uart_cycles, cap * sizeof(uint64_t)) : NULL;
            if (!c || !t) {
                if (c) {
                    s->uart_chars = c;
                }
                return; /* out of memory: drop the character */
            }
            s->uart_chars = c;
            s->uart_cycles = t;
            s->uart_cap = cap;
        }
        s->uart_chars[s->uart_len] = (uint8_t)value;
        s->uart_cycles[s->uart_len] = s->cycles;
        s->uart_len++;
        return;
    }
    s->uart[(offset >> 2) & 1023] = (uint32_t)value;
}

/* ------------------------------------------------------------------ attach */

/* what: bit 0 block hook (cycle model), bit 1 flash data reads, bit 2 SDRAM accesses,
 * bit 3 write tracking. dwt_page and uart_page are mapped as MMIO when non-zero.
 * Returns 0 or the failing uc_err + 1000 * step. */
int tc_attach(void *st, uc_engine *uc, int what, uint64_t dwt_page, uint64_t uart_page)
{
    tc_state *s = st;
    uc_err err;
    int h = 0;
    tc_reset(s);
    if (dwt_page) {
        err = s->mmio_map(uc, dwt_page, 0x1000, dwt_read, s, dwt_write, s);
        if (err) {
            return 1000 + err;
        }
    }
    if (uart_page) {
        err = s->mmio_map(uc, uart_page, 0x1000, uart_read, s, uart_write, s);
        if (err) {
            return 2000 + err;
        }
    }
    if (what & 1) {
        err = s->hook_add(uc, &s->hooks[h++], UC_HOOK_BLOCK, (void *)on_block, s, (uint64_t)1, (uint64_t)0);
        if (err) {
            return 3000 + err;
        }
    }
    if ((what & 2) && s->p[P_FLASH_END] > s->p[P_FLASH_BASE]) {
        err = s->hook_add(uc, &s->hooks[h++], UC_HOOK_MEM_READ, (void *)on_flash_read, s,
                          (uint64_t)s->p[P_FLASH_BASE], (uint64_t)s->p[P_FLASH_END] - 1);
        if (err) {
            return 4000 + err;
        }
    }
    if ((what & 4) && s->p[P_SDRAM_END] > s->p[P_SDRAM_BASE]) {
        err = s->hook_add(uc, &s->hooks[h++], UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)on_sdram, s,
                          (uint64_t)s->p[P_SDRAM_BASE], (uint64_t)s->p[P_SDRAM_END] - 1);
        if (err) {
            return 5000 + err;
        }
    }
    if ((what & 8) && s->ntrack) {
        uint64_t lo = ~(uint64_t)0, hi = 0;
        for (int i = 0; i < s->ntrack; i++) {
            lo = s->track[i].lo < lo ? s->track[i].lo : lo;
            hi = s->track[i].hi > hi ? s->track[i].hi : hi;
        }
        err = s->hook_add(uc, &s->hooks[h++], UC_HOOK_MEM_WRITE, (void *)on_write_track, s, lo, hi - 1);
        if (err) {
            return 6000 + err;
        }
    }
    return 0;
}
