#include "backend/cpu/CpuGemmPanels.h"

#include <algorithm>
#include <array>
#include <utility>

#include "backend/cpu/CpuSimd.h"

namespace vk_symbiote::cpu {

#ifdef VKS_X86
// GCC 12's avx512fintrin.h starts the results of conversions and shuffles from
// _mm512_undefined_ps(), which -Wmaybe-uninitialized reports as a read of an uninitialized value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define VKS_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

namespace {

constexpr uint64 kChunkSteps = 128;  // column steps per panel chunk (2048 columns): 16 x 128 x 32 floats = 256 KiB, in L2
constexpr uint64 kTT = kPanelTokens;

// Step m of weight row `row` (columns [16 m, 16 m + 16); the lone step m == full: 8) as f32
// lanes, zero past the row. One 256-bit load and one conversion: the packing competes with
// the FMAs for the shuffle port, so it uses as few shuffles as it can.
template <DType D>
VKS_AVX512 inline __m512 load_step(const void* row, uint64 m, uint64 full) {
    if (m == full) return _mm512_zextps256_ps512(avx2::load8<D>(row, 16 * m));
    if constexpr (D == DType::F32) {
        return _mm512_loadu_ps(static_cast<const float*>(row) + 16 * m);
    } else {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16*>(row) + 16 * m));
        if constexpr (D == DType::F16) return _mm512_cvtph_ps(h);
        else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}

// v[i] lane j <- v[j] lane i (a 16 x 16 transpose in registers).
VKS_AVX512 inline void transpose16(__m512 v[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // groups of 4 rows: pairs of 64-bit elements
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        v[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // v[4g + k] holds, in 128-bit lane q, row 4g + (0..3) of columns 4q + k. Gather the lanes.
    for (int k = 0; k < 4; ++k) {
        t[k] = _mm512_shuffle_f32x4(v[k], v[4 + k], 0x88);       // lanes q = 0, 2 of groups 0, 1
        t[4 + k] = _mm512_shuffle_f32x4(v[k], v[4 + k], 0xdd);   // lanes q = 1, 3
        t[8 + k] = _mm512_shuffle_f32x4(v[8 + k], v[12 + k], 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(v[8 + k], v[12 + k], 0xdd);
    }
    for (int k = 0; k < 4; ++k) {
        v[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);            // columns k
        v[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xdd);        // columns 8 + k
        v[4 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);   // columns 4 + k
        v[12 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xdd);  // columns 12 + k
    }
}

// Rows [r, r + nr) (nr <= 32), steps [m0, m1) of the weights -> wp (lane l's panel at
// wp + l * kChunkSteps * 32: step m - m0 at + (m - m0) * 32, 32 rows, zero past nr), as f32.
template <DType D>
VKS_AVX512 void pack_w(const MatmulArgs& a, uint64 r, uint64 nr, uint64 m0, uint64 m1, float* wp) {
    const uint64 rb = a.cols * dtype_size(D), full = a.cols / 16;
    const uint8* w = static_cast<const uint8*>(a.w) + r * rb;
    for (uint64 h = 0; h < kPanelRows; h += 16) {
        for (uint64 m = m0; m < m1; ++m) {
            __m512 v[16];
            for (uint64 i = 0; i < 16; ++i) v[i] = h + i < nr ? load_step<D>(w + (h + i) * rb, m, full) : _mm512_setzero_ps();
            transpose16(v);
            for (uint64 l = 0; l < 16; ++l) _mm512_store_ps(wp + (l * kChunkSteps + (m - m0)) * kPanelRows + h, v[l]);
        }
    }
}

// One lane's partial sums of a 32-row x T-token tile over `steps` steps: w (step m at w + 32 m),
// x (step m at x + kTT m, token j at + j), part (token j's 32 rows at part + 32 j); init: start
// from zero instead of part.
template <int T>
VKS_AVX512 void tile(const float* w, const float* x, uint64 steps, float* part, bool init) {
    __m512 acc[2][T];
    _Pragma("GCC unroll 12") for (int j = 0; j < T; ++j) {
        acc[0][j] = init ? _mm512_setzero_ps() : _mm512_load_ps(part + 32 * j);
        acc[1][j] = init ? _mm512_setzero_ps() : _mm512_load_ps(part + 32 * j + 16);
    }
    for (uint64 m = 0; m < steps; ++m) {
        const __m512 w0 = _mm512_load_ps(w + 32 * m), w1 = _mm512_load_ps(w + 32 * m + 16);
        _Pragma("GCC unroll 12") for (int j = 0; j < T; ++j) {
            const __m512 xb = _mm512_set1_ps(x[kTT * m + j]);
            acc[0][j] = _mm512_fmadd_ps(w0, xb, acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(w1, xb, acc[1][j]);
        }
    }
    _Pragma("GCC unroll 12") for (int j = 0; j < T; ++j) {
        _mm512_store_ps(part + 32 * j, acc[0][j]);
        _mm512_store_ps(part + 32 * j + 16, acc[1][j]);
    }
}

using TileFn = void (*)(const float*, const float*, uint64, float*, bool);
template <int... T>
constexpr std::array<TileFn, sizeof...(T)> tile_table(std::integer_sequence<int, T...>) {
    return {tile<T + 1>...};
}
constexpr auto kTiles = tile_table(std::make_integer_sequence<int, int(kTT)>{});  // [tokens - 1]

// The 16 lanes (lane l at p + l * stride) of 16 rows reduced as finish_dot reduces a0 | a1:
// l + (l + 8), then + 4, + 2, + 1 apart.
VKS_AVX512 inline __m512 reduce_lanes(const float* p, uint64 stride) {
    __m512 v[8];
    for (uint64 i = 0; i < 8; ++i) v[i] = _mm512_add_ps(_mm512_load_ps(p + i * stride), _mm512_load_ps(p + (i + 8) * stride));
    for (uint64 i = 0; i < 4; ++i) v[i] = _mm512_add_ps(v[i], v[i + 4]);
    for (uint64 i = 0; i < 2; ++i) v[i] = _mm512_add_ps(v[i], v[i + 2]);
    return _mm512_add_ps(v[0], v[1]);
}

// A row with columns past its last 8-block: lanes (16: a0 | a1) finished by finish_dot itself,
// compiled for AVX2 as the matvec's is: the tail's multiply-adds are then contracted (or not)
// as the matvec's are, which the same source inlined into an AVX-512 function does not promise.
template <DType D>
__attribute__((noinline)) VKS_AVX2 float finish_row(const float* lanes, const void* wr, const float* x, uint64 c, uint64 cols) {
    return avx2::finish_dot<D>(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8), wr, x, c, cols);
}

// y of a finished tile: tokens [t0, t0 + nt), rows [r, r + nr); part: (16 lanes, kTT tokens, 32 rows).
template <DType D>
VKS_AVX512 void finish_tile(const MatmulArgs& a, const float* part, uint64 r, uint64 nr, uint32 t0, uint32 nt) {
    const uint64 rb = a.cols * dtype_size(D), c8 = a.cols / 8 * 8, ls = kTT * kPanelRows;  // ls: floats between lanes
    alignas(64) float s[16];
    for (uint32 j = 0; j < nt; ++j) {
        const float* x = a.x + uint64(t0 + j) * a.x_stride;
        float* y = a.y + uint64(t0 + j) * a.y_stride + r;
        for (uint64 h = 0; h < nr; h += 16) {
            const float* p = part + j * kPanelRows + h;
            if (c8 == a.cols) {
                _mm512_store_ps(s, reduce_lanes(p, ls));
                for (uint64 i = 0; i < 16 && h + i < nr; ++i) y[h + i] = s[i];
                continue;
            }
            for (uint64 i = 0; i < 16 && h + i < nr; ++i) {
                for (uint64 l = 0; l < 16; ++l) s[l] = p[l * ls + i];
                y[h + i] = finish_row<D>(s, static_cast<const uint8*>(a.w) + (r + h + i) * rb, x, c8, a.cols);
            }
        }
    }
}

// One panel of nr <= 32 rows at r: every chunk of steps packed and multiplied by every token tile.
template <DType D>
void panel(const MatmulArgs& a, const PanelX& px, uint64 r, uint64 nr, float* wp, float* part) {
    const uint64 S = px.steps, full = a.cols / 16;
    const uint32 tiles = (a.n_tok + kTT - 1) / kTT;
    if (S == 0) std::fill(part, part + uint64(tiles) * 16 * kTT * kPanelRows, 0.0f);
    for (uint64 m0 = 0; m0 < S; m0 += kChunkSteps) {
        const uint64 m1 = std::min(S, m0 + kChunkSteps);
        pack_w<D>(a, r, nr, m0, m1, wp);
        for (uint32 tl = 0; tl < tiles; ++tl) {
            const TileFn fn = kTiles[std::min<uint32>(kTT, a.n_tok - tl * kTT) - 1];
            for (uint64 l = 0; l < 16; ++l) {
                const uint64 end = std::min(m1, l < 8 ? S : full);  // lanes 8-15 skip the lone step
                fn(wp + l * kChunkSteps * kPanelRows, px.data.data() + ((uint64(tl) * 16 + l) * S + m0) * kTT, end > m0 ? end - m0 : 0,
                   part + (uint64(tl) * 16 + l) * kTT * kPanelRows, m0 == 0);
            }
        }
    }
    for (uint32 tl = 0; tl < tiles; ++tl)
        finish_tile<D>(a, part + uint64(tl) * 16 * kTT * kPanelRows, r, nr, tl * kTT, std::min<uint32>(kTT, a.n_tok - tl * kTT));
}

template <DType D>
void rows_typed(const MatmulArgs& a, const PanelX& px, uint64 r0, uint64 r1) {
    thread_local AlignedFloats wp, part;
    const uint64 tiles = (a.n_tok + kTT - 1) / kTT;
    if (wp.size() < 16 * kChunkSteps * kPanelRows) wp.resize(16 * kChunkSteps * kPanelRows);
    if (part.size() < tiles * 16 * kTT * kPanelRows) part.resize(tiles * 16 * kTT * kPanelRows);
    for (uint64 r = r0; r < r1; r += kPanelRows) panel<D>(a, px, r, std::min(kPanelRows, r1 - r), wp.data(), part.data());
}

}  // namespace

bool panels_available() {
    static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f");
    return has;
}

void panels_prepare_x(const MatmulArgs& a, PanelX& px) {
    const uint64 full = a.cols / 16, tiles = (a.n_tok + kTT - 1) / kTT;
    px.steps = full + (a.cols % 16 >= 8 ? 1 : 0);
    px.n_tok = a.n_tok;
    // Padding (tokens past n_tok, lanes 8-15 of the lone step) is never read into a result.
    if (px.data.size() < tiles * 16 * px.steps * kTT) px.data.resize(tiles * 16 * px.steps * kTT);
}

void panels_pack_x_tokens(const MatmulArgs& a, PanelX& px, uint32 t0, uint32 t1) {
    const uint64 S = px.steps, full = a.cols / 16;
    for (uint32 t = t0; t < t1; ++t) {
        const float* x = a.x + uint64(t) * a.x_stride;
        float* d = px.data.data() + uint64(t / kTT) * 16 * S * kTT + t % kTT;
        for (uint64 m = 0; m < S; ++m)
            for (uint64 l = 0; l < (m == full ? 8 : 16); ++l) d[(l * S + m) * kTT] = x[16 * m + l];
    }
}

void panels_pack_x(const MatmulArgs& a, PanelX& px) {
    panels_prepare_x(a, px);
    panels_pack_x_tokens(a, px, 0, a.n_tok);
}

void panels_rows(const MatmulArgs& a, const PanelX& px, uint64 r0, uint64 r1) {
    if (r0 >= r1 || a.n_tok == 0) return;
    switch (a.dtype) {
        case DType::F32: return rows_typed<DType::F32>(a, px, r0, r1);
        case DType::F16: return rows_typed<DType::F16>(a, px, r0, r1);
        case DType::BF16: return rows_typed<DType::BF16>(a, px, r0, r1);
    }
}

#else  // not x86: never available

bool panels_available() { return false; }
void panels_pack_x(const MatmulArgs&, PanelX&) {}
void panels_prepare_x(const MatmulArgs&, PanelX&) {}
void panels_pack_x_tokens(const MatmulArgs&, PanelX&, uint32, uint32) {}
void panels_rows(const MatmulArgs&, const PanelX&, uint64, uint64) {}

#endif

}  // namespace vk_symbiote::cpu
