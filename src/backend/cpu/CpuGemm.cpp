#include "backend/cpu/CpuGemm.h"

#include <algorithm>

#include "backend/cpu/CpuGemmPanels.h"
#include "backend/cpu/CpuSimd.h"

namespace vk_symbiote::cpu {

#ifdef VKS_X86

namespace {

constexpr uint64 kRows = 16;   // weight rows per block
constexpr uint64 kCols = 512;  // columns per block: a multiple of 16, so a block starts on an even 8-block
constexpr uint32 kToks = 64;   // tokens whose partial sums are kept at once
constexpr uint64 kLanes = 16;  // partial sums per (token, row): lanes 0-7 even 8-blocks (a0), 8-15 odd (a1)

// One call's scratch, on the stack (96 KiB; nothing allocates). The weight block (32 KiB) stays
// in L1 while every token tile passes over it; the partial sums carry across column blocks.
struct Scratch {
    alignas(64) float w[kRows * kCols];             // (kRows, kCols): the block's weights as f32
    alignas(64) float acc[kToks * kRows * kLanes];  // (kToks, kRows, kLanes): partial sums
};

// What one microkernel call multiplies: R block rows by T tokens over one column block.
struct Tile {
    const float* w;  // row 0 of the tile in Scratch::w (row i at w + i * kCols)
    const float* x;  // token 0, at the block's first column (token j at x + j * xs)
    uint64 xs;       // floats between tokens
    float* acc;      // partial sums of (token 0, row 0); (token j, row i) at acc + (j * kRows + i) * kLanes
    uint64 kc;       // columns in the block, a multiple of 8
};

// Rows [r, r + nr), columns [k0, k0 + kc) of the weights (kc a multiple of 8) -> w as f32.
template <DType D>
VKS_AVX2 void convert_block(const MatmulArgs& a, uint64 r, uint64 nr, uint64 k0, uint64 kc, float* w) {
    const uint64 rb = a.cols * dtype_size(D);
    for (uint64 i = 0; i < nr; ++i) {
        const uint8* wr = static_cast<const uint8*>(a.w) + (r + i) * rb;
        for (uint64 c = 0; c < kc; c += 8) _mm256_store_ps(w + i * kCols + c, avx2::load8<D>(wr, k0 + c));
    }
}

// Software prefetch (into L2) of the next column block (or the next row block's first), one
// block ahead of its conversion: the conversion reads 16 rows a kilobyte at a time, a pattern
// the hardware streamers follow too late, and the product then waits on memory latency.
template <DType D>
void prefetch_block(const MatmulArgs& a, uint64 r, uint64 nr, uint64 k0, uint64 kc) {
    const uint64 rb = a.cols * dtype_size(D), es = dtype_size(D);
    for (uint64 i = 0; i < nr; ++i) {
        const char* wr = static_cast<const char*>(a.w) + (r + i) * rb + k0 * es;
        for (uint64 o = 0; o < kc * es; o += 64) _mm_prefetch(wr + o, _MM_HINT_T1);
    }
}

// 256-bit registers: the 8-blocks of one parity p (0: even, lanes 0-7; 1: odd, lanes 8-15), in order.
template <int R, int T>
VKS_AVX2 void micro256(const Tile& t, int p) {
    __m256 acc[R][T];
    _Pragma("GCC unroll 4") for (int i = 0; i < R; ++i)
        _Pragma("GCC unroll 4") for (int j = 0; j < T; ++j) acc[i][j] = _mm256_load_ps(t.acc + (j * kRows + i) * kLanes + 8 * p);
    for (uint64 c = 8 * uint64(p); c + 8 <= t.kc; c += 16) {
        __m256 xv[T];
        _Pragma("GCC unroll 4") for (int j = 0; j < T; ++j) xv[j] = _mm256_loadu_ps(t.x + j * t.xs + c);
        for (int i = 0; i < R; ++i) {
            const __m256 wv = _mm256_load_ps(t.w + i * kCols + c);
            _Pragma("GCC unroll 4") for (int j = 0; j < T; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < R; ++i)
        _Pragma("GCC unroll 4") for (int j = 0; j < T; ++j) _mm256_store_ps(t.acc + (j * kRows + i) * kLanes + 8 * p, acc[i][j]);
}

using Micro256 = void (*)(const Tile&, int);
// [rows - 1][tokens - 1] of a tile: full tiles are 4 x 3 (12 accumulators + 3 x + 1 w of 16
// registers); the others finish a block's remainders.
constexpr uint32 kTok256 = 3;
constexpr Micro256 kMicro256[4][kTok256] = {{micro256<1, 1>, micro256<1, 2>, micro256<1, 3>},
                                            {micro256<2, 1>, micro256<2, 2>, micro256<2, 3>},
                                            {micro256<3, 1>, micro256<3, 2>, micro256<3, 3>},
                                            {micro256<4, 1>, micro256<4, 2>, micro256<4, 3>}};

// One column block: nt tokens (x at the block's first column) by the nr converted rows in s.w.
void run_block(Scratch& s, const float* x, uint64 xs, uint32 nt, uint64 nr, uint64 kc) {
    for (uint32 j = 0; j < nt; j += kTok256) {
        const uint32 T = std::min(kTok256, nt - j);
        for (uint64 i = 0; i < nr; i += 4) {
            const uint64 R = std::min<uint64>(4, nr - i);
            const Tile t{s.w + i * kCols, x + uint64(j) * xs, xs, s.acc + (uint64(j) * kRows + i) * kLanes, kc};
            kMicro256[R - 1][T - 1](t, 0);
            kMicro256[R - 1][T - 1](t, 1);
        }
    }
}

// y of tokens [t0, t0 + nt), rows [r, r + nr): the partial sums finished as the matvec finishes them.
template <DType D>
VKS_AVX2 void finish_block(const MatmulArgs& a, const Scratch& s, uint64 r, uint64 nr, uint32 t0, uint32 nt) {
    const uint64 rb = a.cols * dtype_size(D), c8 = a.cols / 8 * 8;
    for (uint32 j = 0; j < nt; ++j) {
        const float* x = a.x + uint64(t0 + j) * a.x_stride;
        float* y = a.y + uint64(t0 + j) * a.y_stride;
        for (uint64 i = 0; i < nr; ++i) {
            const float* p = s.acc + (uint64(j) * kRows + i) * kLanes;
            y[r + i] = avx2::finish_dot<D>(_mm256_load_ps(p), _mm256_load_ps(p + 8), static_cast<const uint8*>(a.w) + (r + i) * rb, x, c8, a.cols);
        }
    }
}

// Token chunks of kToks outermost, so each weight is read (and converted) once per chunk.
template <DType D>
void gemm_typed(const MatmulArgs& a, uint64 r0, uint64 r1) {
    Scratch s;
    const uint64 c8 = a.cols / 8 * 8;  // columns in full 8-blocks; the rest: finish_dot
    for (uint32 t0 = 0; t0 < a.n_tok; t0 += kToks) {
        const uint32 nt = std::min(kToks, a.n_tok - t0);
        const float* x = a.x + uint64(t0) * a.x_stride;
        for (uint64 r = r0; r < r1; r += kRows) {
            const uint64 nr = std::min(kRows, r1 - r);
            std::fill(s.acc, s.acc + uint64(nt) * kRows * kLanes, 0.0f);
            for (uint64 k0 = 0; k0 < c8; k0 += kCols) {
                const uint64 kc = std::min(kCols, c8 - k0);
                if (k0 + kCols < c8) prefetch_block<D>(a, r, nr, k0 + kCols, std::min(kCols, c8 - k0 - kCols));
                else if (r + kRows < r1) prefetch_block<D>(a, r + kRows, std::min(kRows, r1 - r - kRows), 0, std::min(kCols, c8));
                convert_block<D>(a, r, nr, k0, kc, s.w);
                run_block(s, x + k0, a.x_stride, nt, nr, kc);
            }
            finish_block<D>(a, s, r, nr, t0, nt);
        }
    }
}

}  // namespace

bool gemm_available() { return cpu_has_avx2(); }

bool gemm_has_avx512() { return panels_available(); }

void gemm_rows(const MatmulArgs& a, uint64 r0, uint64 r1, bool wide) {
    if (r0 >= r1 || a.n_tok == 0) return;
    if (wide && panels_available()) {
        PanelX px;
        panels_pack_x(a, px);
        return panels_rows(a, px, r0, r1);
    }
    switch (a.dtype) {
        case DType::F32: return gemm_typed<DType::F32>(a, r0, r1);
        case DType::F16: return gemm_typed<DType::F16>(a, r0, r1);
        case DType::BF16: return gemm_typed<DType::BF16>(a, r0, r1);
    }
}

#else  // not x86: matmul() never comes here (gemm_available() is false); a direct call gets the scalar path

bool gemm_available() { return false; }
bool gemm_has_avx512() { return false; }
void gemm_rows(const MatmulArgs& a, uint64 r0, uint64 r1, bool) {
    if (r0 >= r1) return;
    MatmulArgs b = a;
    b.w = static_cast<const uint8*>(a.w) + r0 * a.cols * dtype_size(a.dtype);
    b.rows = r1 - r0;
    b.y = a.y + r0;
    matmul(b, nullptr, KernelPath::Scalar);
}

#endif

}  // namespace vk_symbiote::cpu
