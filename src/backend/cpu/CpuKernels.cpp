#include "backend/cpu/CpuKernels.h"

#include "backend/cpu/CpuGemm.h"
#include "backend/cpu/CpuGemmPanels.h"
#include "backend/cpu/CpuSimd.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace vk_symbiote::cpu {

namespace {

inline uint32 f2u(float f) { uint32 u; std::memcpy(&u, &f, 4); return u; }
inline float u2f(uint32 u) { float f; std::memcpy(&f, &u, 4); return f; }

}  // namespace

// ---- conversions: scalar ones are common/HalfFloat.h ----------------------------------

// ---- path selection ----------------------------------------------------------------------

bool cpu_has_avx2() {
#ifdef VKS_X86
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return has;
#else
    return false;
#endif
}

KernelPath resolve_path(KernelPath p) {
    if (p == KernelPath::Scalar) return p;
    return cpu_has_avx2() ? KernelPath::Avx2 : KernelPath::Scalar;
}

const char* kernel_path_name(KernelPath p) {
    switch (p) {
        case KernelPath::Auto: return "auto";
        case KernelPath::Scalar: return "scalar";
        case KernelPath::Avx2: return "avx2";
    }
    return "?";
}

// ---- scalar path -------------------------------------------------------------------------

namespace scalar {

void convert(DType d, const void* src, float* dst, uint64 n) {
    switch (d) {
        case DType::F32: std::memcpy(dst, src, n * 4); break;
        case DType::F16: for (uint64 i = 0; i < n; ++i) dst[i] = load1<DType::F16>(src, i); break;
        case DType::BF16: for (uint64 i = 0; i < n; ++i) dst[i] = load1<DType::BF16>(src, i); break;
    }
}

// Rows [r0, r1) of w times tokens [0, T) of x (one tile): each weight element is loaded once per tile.
template <DType D, int T>
void tile(const MatmulArgs& a, uint64 r0, uint64 r1, const float* x, float* y) {
    const uint64 rb = a.cols * dtype_size(D);
    for (uint64 r = r0; r < r1; ++r) {
        const void* wr = static_cast<const uint8*>(a.w) + r * rb;
        float acc[T] = {};
        for (uint64 c = 0; c < a.cols; ++c) {
            float wv = load1<D>(wr, c);
            for (int t = 0; t < T; ++t) acc[t] += wv * x[t * a.x_stride + c];
        }
        for (int t = 0; t < T; ++t) y[t * a.y_stride + r] = acc[t];
    }
}

float dot(const float* a, const float* b, uint64 n) {
    float s = 0.0f;
    for (uint64 i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

void axpy(float alpha, const float* x, float* y, uint64 n) {
    for (uint64 i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace scalar

// ---- AVX2 + FMA + F16C path -----------------------------------------------------------------

#ifdef VKS_X86
namespace avx2 {

VKS_AVX2 void convert(DType d, const void* src, float* dst, uint64 n) {
    uint64 i = 0;
    switch (d) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16:
            for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<DType::F16>(src, i));
            for (; i < n; ++i) dst[i] = _cvtsh_ss(static_cast<const uint16*>(src)[i]);
            return;
        case DType::BF16:
            for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8<DType::BF16>(src, i));
            for (; i < n; ++i) dst[i] = bf16_to_f32(static_cast<const uint16*>(src)[i]);
            return;
    }
}

// One weight row times one token, summed in the same order as each row of row_dot4 (two
// accumulators over alternate 8-wide blocks), so that a row's result does not depend on
// whether it went through row_dot4 (results stay bitwise independent of the thread split).
template <DType D>
VKS_AVX2 inline float row_dot1(const void* wr, const float* x, uint64 cols) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    uint64 c = 0;
    for (; c + 16 <= cols; c += 16) {
        a0 = _mm256_fmadd_ps(load8<D>(wr, c), _mm256_loadu_ps(x + c), a0);
        a1 = _mm256_fmadd_ps(load8<D>(wr, c + 8), _mm256_loadu_ps(x + c + 8), a1);
    }
    for (; c + 8 <= cols; c += 8) a0 = _mm256_fmadd_ps(load8<D>(wr, c), _mm256_loadu_ps(x + c), a0);
    return finish_dot<D>(a0, a1, wr, x, c, cols);
}

// Four weight rows times one token: four weight streams in flight per thread (a single
// row's stream leaves the memory system idle between its loads on a many-core host), the
// x vector loaded once for the four rows, two accumulators per row. Each stream is also
// prefetched pf bytes ahead (MatmulArgs::prefetch_bytes; one cache line per row per 64 bytes consumed):
// the hardware streamers stop at every 4 KiB boundary and keep too few lines in flight per
// core for a many-core host's memory latency; past a row's end the prefetches land in the
// next rows, which the next call of this thread usually reads.
template <DType D>
VKS_AVX2 inline void row_dot4(const void* wr, uint64 rb, const float* x, uint64 cols, uint64 pf, float* y) {
    const uint8* w0 = static_cast<const uint8*>(wr);
    const uint8 *w1 = w0 + rb, *w2 = w0 + 2 * rb, *w3 = w0 + 3 * rb;
    constexpr uint64 es = dtype_size(D);
    __m256 a[8];
    for (int i = 0; i < 8; ++i) a[i] = _mm256_setzero_ps();
    auto step16 = [&](uint64 c) VKS_AVX2 {
        const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
        a[0] = _mm256_fmadd_ps(load8<D>(w0, c), x0, a[0]);
        a[1] = _mm256_fmadd_ps(load8<D>(w0, c + 8), x1, a[1]);
        a[2] = _mm256_fmadd_ps(load8<D>(w1, c), x0, a[2]);
        a[3] = _mm256_fmadd_ps(load8<D>(w1, c + 8), x1, a[3]);
        a[4] = _mm256_fmadd_ps(load8<D>(w2, c), x0, a[4]);
        a[5] = _mm256_fmadd_ps(load8<D>(w2, c + 8), x1, a[5]);
        a[6] = _mm256_fmadd_ps(load8<D>(w3, c), x0, a[6]);
        a[7] = _mm256_fmadd_ps(load8<D>(w3, c + 8), x1, a[7]);
    };
    uint64 c = 0;
    if (pf) {
        // 32 columns (64 bytes of f16 / bf16, 128 of f32) per step, one prefetch per line and row.
        for (; c + 32 <= cols; c += 32) {
            for (uint64 o = 0; o < 32 * es; o += 64) {
                const uint64 at = c * es + pf + o;
                _mm_prefetch(reinterpret_cast<const char*>(w0 + at), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(w1 + at), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(w2 + at), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(w3 + at), _MM_HINT_T0);
            }
            step16(c);
            step16(c + 16);
        }
    }
    for (; c + 16 <= cols; c += 16) step16(c);
    for (; c + 8 <= cols; c += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + c);
        a[0] = _mm256_fmadd_ps(load8<D>(w0, c), x0, a[0]);
        a[2] = _mm256_fmadd_ps(load8<D>(w1, c), x0, a[2]);
        a[4] = _mm256_fmadd_ps(load8<D>(w2, c), x0, a[4]);
        a[6] = _mm256_fmadd_ps(load8<D>(w3, c), x0, a[6]);
    }
    const void* ws[4] = {w0, w1, w2, w3};
    for (int k = 0; k < 4; ++k) y[k] = finish_dot<D>(a[2 * k], a[2 * k + 1], ws[k], x, c, cols);
}

// Rows [r0, r1) times a tile of T tokens: each 8-wide weight vector is loaded (and
// converted) once and used for all T tokens.
template <DType D, int T>
VKS_AVX2 void tile(const MatmulArgs& a, uint64 r0, uint64 r1, const float* x, float* y) {
    const uint64 rb = a.cols * dtype_size(D);
    if constexpr (T == 1) {
        float y4[4];
        for (; r0 + 4 <= r1; r0 += 4) {
            row_dot4<D>(static_cast<const uint8*>(a.w) + r0 * rb, rb, x, a.cols, a.prefetch_bytes, y4);
            for (int k = 0; k < 4; ++k) y[r0 + k] = y4[k];
        }
    }
    for (uint64 r = r0; r < r1; ++r) {
        const void* wr = static_cast<const uint8*>(a.w) + r * rb;
        if constexpr (T == 1) {
            y[r] = row_dot1<D>(wr, x, a.cols);
        } else {
            __m256 acc[T];
            for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
            uint64 c = 0;
            for (; c + 8 <= a.cols; c += 8) {
                __m256 wv = load8<D>(wr, c);
                for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * a.x_stride + c), acc[t]);
            }
            float s[T];
            for (int t = 0; t < T; ++t) s[t] = hsum(acc[t]);
            for (; c < a.cols; ++c) {
                float wv = scalar::load1<D>(wr, c);
                for (int t = 0; t < T; ++t) s[t] += wv * x[t * a.x_stride + c];
            }
            for (int t = 0; t < T; ++t) y[t * a.y_stride + r] = s[t];
        }
    }
}

VKS_AVX2 float dot(const float* a, const float* b, uint64 n) { return row_dot1<DType::F32>(a, b, n); }

VKS_AVX2 void axpy(float alpha, const float* x, float* y, uint64 n) {
    __m256 al = _mm256_set1_ps(alpha);
    uint64 i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(al, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace avx2
#endif

// ---- dispatch ------------------------------------------------------------------------------

void convert_to_f32(DType dtype, const void* src, float* dst, uint64 n, KernelPath path) {
#ifdef VKS_X86
    if (resolve_path(path) == KernelPath::Avx2) return avx2::convert(dtype, src, dst, n);
#endif
    (void)path;
    scalar::convert(dtype, src, dst, n);
}

float dot_f32(const float* a, const float* b, uint64 n, KernelPath path) {
#ifdef VKS_X86
    if (resolve_path(path) == KernelPath::Avx2) return avx2::dot(a, b, n);
#endif
    (void)path;
    return scalar::dot(a, b, n);
}

void axpy_f32(float alpha, const float* x, float* y, uint64 n, KernelPath path) {
#ifdef VKS_X86
    if (resolve_path(path) == KernelPath::Avx2) return avx2::axpy(alpha, x, y, n);
#endif
    (void)path;
    scalar::axpy(alpha, x, y, n);
}

namespace {

using TileFn = void (*)(const MatmulArgs&, uint64, uint64, const float*, float*);

// Tile functions for tiles of 8, 4, 2 and 1 tokens, for one dtype and path.
template <DType D>
void tile_table(KernelPath p, TileFn out[4]) {
#ifdef VKS_X86
    if (p == KernelPath::Avx2) {
        out[0] = avx2::tile<D, 8>; out[1] = avx2::tile<D, 4>; out[2] = avx2::tile<D, 2>; out[3] = avx2::tile<D, 1>;
        return;
    }
#endif
    (void)p;
    out[0] = scalar::tile<D, 8>; out[1] = scalar::tile<D, 4>; out[2] = scalar::tile<D, 2>; out[3] = scalar::tile<D, 1>;
}

// Tokens per tile function of tile_table (the largest first).
constexpr int kTileTok[4] = {8, 4, 2, 1};

uint64 weight_row_bytes(const MatmulArgs& a) { return std::max<uint64>(1, a.cols * dtype_size(a.dtype)); }

// Rows [r0, r1) for all tokens. Batches of kGemmMinTokens or more on the AVX2 path: the blocked
// product (CpuGemm). Else rows go in blocks of <= ~64 KiB of weights so a block stays in L2
// while every token tile passes over it.
void matmul_rows(const MatmulArgs& a, KernelPath p, const TileFn tiles[4], uint64 r0, uint64 r1) {
    if (p == KernelPath::Avx2 && a.n_tok >= kGemmMinTokens && gemm_available()) return gemm_rows(a, r0, r1);
    const uint64 block = std::max<uint64>(1, (uint64(64) << 10) / weight_row_bytes(a));
    for (uint64 b0 = r0; b0 < r1; b0 += block) {
        const uint64 b1 = std::min(r1, b0 + block);
        uint32 t = 0;
        for (int k = 0; k < 4; ++k) {
            for (; t + uint32(kTileTok[k]) <= a.n_tok; t += uint32(kTileTok[k]))
                tiles[k](a, b0, b1, a.x + uint64(t) * a.x_stride, a.y + uint64(t) * a.y_stride);
        }
    }
}

// A batch through the panel product (CpuGemmPanels): x packed once, on the pool's workers (each
// a share of the tokens), then the row panels split over the pool.
void matmul_panels(const MatmulArgs& a, ThreadPool* pool) {
    thread_local PanelX caller_px;  // reused: a prompt's every matmul packs the same sizes
    PanelX& px = caller_px;         // the caller's, named so the workers' tasks capture it
    if (!pool || pool->size() == 1) {
        panels_pack_x(a, px);
        return panels_rows(a, px, 0, a.rows);
    }
    panels_prepare_x(a, px);
    pool->parallel_for(a.n_tok, kPanelTokens, [&](uint64 t0, uint64 t1, uint32) { panels_pack_x_tokens(a, px, uint32(t0), uint32(t1)); });
    const uint64 panels = (a.rows + kPanelRows - 1) / kPanelRows;
    pool->parallel_for(panels, 1, [&](uint64 b, uint64 e, uint32) { panels_rows(a, px, b * kPanelRows, std::min(a.rows, e * kPanelRows)); });
}

}  // namespace

void matmul(const MatmulArgs& a, ThreadPool* pool, KernelPath path) {
    if (a.rows == 0 || a.n_tok == 0) return;
    const KernelPath p = resolve_path(path);
    if (p == KernelPath::Avx2 && a.n_tok >= kGemmMinTokens && panels_available()) return matmul_panels(a, pool);
    TileFn tiles[4];
    switch (a.dtype) {
        case DType::F32: tile_table<DType::F32>(p, tiles); break;
        case DType::F16: tile_table<DType::F16>(p, tiles); break;
        case DType::BF16: tile_table<DType::BF16>(p, tiles); break;
    }
    const uint64 work = a.rows * std::max<uint64>(1, a.cols) * a.n_tok;  // multiply-adds
    // Below ~64K multiply-adds a wake-up of the pool costs more than it saves.
    if (!pool || pool->size() == 1 || work < (uint64(1) << 16)) return matmul_rows(a, p, tiles, 0, a.rows);
    const uint64 grain = std::max<uint64>(1, (uint64(1) << 14) / (std::max<uint64>(1, a.cols) * a.n_tok));
    // Decode (one token tile): tasks of at most ~128 KiB of weight rows, so the idle tail at
    // the end of each matvec stays short (docs/tuning.md). Batches keep larger tasks: each
    // task re-reads all of x. Results do not depend on the split (one dot product per row).
    const uint64 max_chunk = a.n_tok <= uint32(kTileTok[0]) ? std::max<uint64>(1, (uint64(128) << 10) / weight_row_bytes(a)) : ~uint64(0);
    pool->parallel_for(a.rows, grain, [&](uint64 r0, uint64 r1, uint32) { matmul_rows(a, p, tiles, r0, r1); }, max_chunk);
}

void matmul_batch(const MatmulArgs* list, size_t count, ThreadPool* pool, KernelPath path, bool fuse) {
    bool fused = fuse && pool && pool->size() > 1 && count > 1;
    for (size_t i = 0; i < count && fused; ++i) fused = list[i].n_tok <= uint32(kTileTok[0]);
    if (!fused) {
        for (size_t i = 0; i < count; ++i) matmul(list[i], pool, path);
        return;
    }
    // One pool run over every matrix's row tasks (~128 KiB of weight rows each, as matmul()'s
    // decode tasks): one wake-up and one tail instead of one per matrix.
    const KernelPath p = resolve_path(path);
    struct Task {
        uint32 m;
        uint64 r0, r1;
    };
    std::vector<std::array<TileFn, 4>> tiles(count);
    std::vector<Task> tasks;
    for (size_t i = 0; i < count; ++i) {
        const MatmulArgs& a = list[i];
        switch (a.dtype) {
            case DType::F32: tile_table<DType::F32>(p, tiles[i].data()); break;
            case DType::F16: tile_table<DType::F16>(p, tiles[i].data()); break;
            case DType::BF16: tile_table<DType::BF16>(p, tiles[i].data()); break;
        }
        if (a.n_tok == 0) continue;
        const uint64 chunk = std::max<uint64>(1, (uint64(128) << 10) / weight_row_bytes(a));
        for (uint64 r = 0; r < a.rows; r += chunk) tasks.push_back({uint32(i), r, std::min(a.rows, r + chunk)});
    }
    pool->run(uint32(tasks.size()), [&](uint32 t, uint32) { matmul_rows(list[tasks[t].m], p, tiles[tasks[t].m].data(), tasks[t].r0, tasks[t].r1); });
}

// ---- per-row kernels ----------------------------------------------------------------------

void rmsnorm(const float* x, const float* w, float* out, uint64 n, float eps) {
    double sum = 0.0;
    for (uint64 i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
    const float mean = float(sum / double(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (uint64 i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

void rope(float* x, uint32 n_head, uint32 pos, const RopeParams& p) {
    // cos/sin for 64 pairs at a time (no allocation), shared by every head.
    constexpr uint32 kChunk = 64;
    float cs[kChunk][2];
    const uint32 n_pairs = p.n_rot / 2;
    const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
    float theta = float(pos);
    for (uint32 i0 = 0; i0 < n_pairs; i0 += kChunk) {
        const uint32 i1 = std::min(n_pairs, i0 + kChunk);
        for (uint32 i = i0; i < i1; ++i) {
            const float th = (p.freq_factors ? theta / p.freq_factors[i] : theta) * p.freq_scale;
            cs[i - i0][0] = std::cos(th);
            cs[i - i0][1] = std::sin(th);
            theta *= theta_scale;
        }
        for (uint32 h = 0; h < n_head; ++h) {
            float* hx = x + uint64(h) * p.head_dim;
            for (uint32 i = i0; i < i1; ++i) {
                const uint32 a = p.style == RopeStyle::Normal ? 2 * i : i;
                const uint32 b = p.style == RopeStyle::Normal ? 2 * i + 1 : i + n_pairs;
                const float c = cs[i - i0][0], s = cs[i - i0][1];
                const float x0 = hx[a], x1 = hx[b];
                hx[a] = x0 * c - x1 * s;
                hx[b] = x0 * s + x1 * c;
            }
        }
    }
}

void attention_head(const float* q, const float* k_cache, const float* v_cache, uint64 kv_stride, uint32 n_kv, uint32 head_dim, float scale,
                    float* scores, float* out, KernelPath path) {
    AttentionArgs a;
    a.q = q;
    a.runs[0] = {k_cache, v_cache, n_kv};
    a.kv_stride = kv_stride;
    a.head_dim = head_dim;
    a.scale = scale;
    a.scores = scores;
    a.out = out;
    attention_head(a, path);
}

void attention_head(const AttentionArgs& a, KernelPath path) {
    // With a soft-cap the scale is divided by the cap first, as llama.cpp's flash attention does.
    const float s_scale = a.softcap > 0.0f ? a.scale / a.softcap : a.scale;
    float mx = -INFINITY;
    uint32 j = 0;
    for (const KvRun& r : a.runs)
        for (uint32 i = 0; i < r.n; ++i, ++j) {
            float s = dot_f32(a.q, r.k + uint64(i) * a.kv_stride, a.head_dim, path) * s_scale;
            if (a.softcap > 0.0f) s = a.softcap * std::tanh(s);
            a.scores[j] = s;
            mx = std::max(mx, s);
        }
    const uint32 n_kv = j;
    double sum = 0.0;
    for (j = 0; j < n_kv; ++j) {
        a.scores[j] = std::exp(a.scores[j] - mx);
        sum += a.scores[j];
    }
    const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
    std::fill(a.out, a.out + a.head_dim, 0.0f);
    j = 0;
    for (const KvRun& r : a.runs)
        for (uint32 i = 0; i < r.n; ++i, ++j) axpy_f32(a.scores[j] * inv, r.v + uint64(i) * a.kv_stride, a.out, a.head_dim, path);
}

void swiglu(float* gate, const float* up, uint64 n) {
    for (uint64 i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = (g / (1.0f + std::exp(-g))) * up[i];
    }
}

void geglu(float* gate, const float* up, uint64 n) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    for (uint64 i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + kCoefA * g * g))) * up[i];
    }
}

void softcap(float* x, uint64 n, float cap) {
    const float inv = 1.0f / cap;
    for (uint64 i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * cap;
}

void add_inplace(float* y, const float* x, uint64 n) {
    for (uint64 i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace vk_symbiote::cpu
