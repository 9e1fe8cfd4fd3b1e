// CpuKernels: the exact f32 kernels of the CPU forward pass, each as a portable scalar path
// and an AVX2+FMA+F16C path (__attribute__((target)), picked at run time by KernelPath::Auto).
// Activations: f32, row-major, explicit row stride in floats. Weights: row-major [rows][cols]
// in the file dtype (f32 / f16 / bf16), f32 accumulation. Nothing here allocates or fails:
// the caller (CpuBackend) checks shapes.
#pragma once

#include "backend/cpu/ThreadPool.h"
#include "model/ModelConfig.h"
#include "common/HalfFloat.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::cpu {

enum class KernelPath : uint32 { Auto = 0, Scalar = 1, Avx2 = 2 };

// True when this CPU has AVX2, FMA and F16C (and the build targets x86-64).
bool cpu_has_avx2();
// Auto -> Avx2 when available, else Scalar. Avx2 on a CPU without it -> Scalar.
KernelPath resolve_path(KernelPath p);
const char* kernel_path_name(KernelPath p);

// ---- element conversions (IEEE half, bfloat16) ------------------------------------------
// Scalar conversions (round to nearest even; NaN stays NaN; overflow -> Inf): one
// definition for the whole engine in common/HalfFloat.h.
using ::vk_symbiote::bf16_to_f32;
using ::vk_symbiote::f16_to_f32;
using ::vk_symbiote::f32_to_bf16;
using ::vk_symbiote::f32_to_f16;

// dst[n] = src[n] converted from `dtype` to f32.
void convert_to_f32(DType dtype, const void* src, float* dst, uint64 n, KernelPath path = KernelPath::Auto);

// ---- matmul -----------------------------------------------------------------------------
// y[t][r] = sum_c w[r][c] * x[t][c] for r in [0, rows), t in [0, n_tok).
// w: rows x cols in `dtype`, row-major, rows contiguous (row stride = cols elements).
// x: n_tok rows of cols floats, row stride x_stride floats.
// y: n_tok rows, row stride y_stride floats; only columns [0, rows) are written.
// Weight rows are reused across a tile of up to 8 tokens (read once per tile); batches of
// kGemmMinTokens or more go through CpuGemm (each weight read once per call).
struct MatmulArgs {
    const void* w = nullptr;
    DType dtype = DType::F32;
    uint64 rows = 0;
    uint64 cols = 0;
    const float* x = nullptr;
    uint64 x_stride = 0;
    uint32 n_tok = 0;
    float* y = nullptr;
    uint64 y_stride = 0;
    // One-token matvec (AVX2 path): software prefetch this many bytes ahead of each weight row
    // stream; 0: none (docs/tuning.md). The results do not depend on it.
    uint64 prefetch_bytes = 0;
};
constexpr uint64 kDefaultMatvecPrefetchBytes = 1024;
// pool == nullptr: single-threaded. Rows are split across the pool's workers.
void matmul(const MatmulArgs& a, ThreadPool* pool, KernelPath path = KernelPath::Auto);
// Several matmuls at once (e.g. Q / K / V, or gate / up, of one decode step): the same
// results as matmul() on each, bit for bit; when every one is decode-sized (at most 8
// tokens), one pool run over all of their row tasks, so the pool wakes once and the
// threads wait for the slowest task once.
// fuse = false: one matmul() after the other (A/B).
void matmul_batch(const MatmulArgs* list, size_t count, ThreadPool* pool, KernelPath path = KernelPath::Auto, bool fuse = true);

// f32 dot product (used by attention); exposed for tests.
float dot_f32(const float* a, const float* b, uint64 n, KernelPath path = KernelPath::Auto);
// y[n] += alpha * x[n]
void axpy_f32(float alpha, const float* x, float* y, uint64 n, KernelPath path = KernelPath::Auto);

// ---- element-wise / per-row kernels ------------------------------------------------------
// out[n] = x[n] * w[n] / sqrt(mean(x^2) + eps); the mean is accumulated in double, then
// 1/sqrtf(float(mean) + eps) as llama.cpp does. out may alias x.
void rmsnorm(const float* x, const float* w, float* out, uint64 n, float eps);

// Rotary embedding of n_head heads of head_dim floats stored contiguously at x[n_head][head_dim],
// in place, for one token at position pos. Only the first n_rot dims of each head rotate.
// theta_i = pos * base^(-2i/n_rot) / freq_factors[i] * freq_scale (computed as llama.cpp does:
// f32 running product, then the divisor, then the scale).
// Normal: pairs (x[2i], x[2i+1]); NeoX: pairs (x[i], x[i + n_rot/2]).
struct RopeParams {
    uint32 head_dim = 0;
    uint32 n_rot = 0;
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;
    RopeStyle style = RopeStyle::Normal;
    const float* freq_factors = nullptr;  // (n_rot / 2) divisors of the angles (Llama 3.1), or null
};
void rope(float* x, uint32 n_head, uint32 pos, const RopeParams& p);

// Causal attention for one token of one head, reading a KV cache.
// q[head_dim]; k_cache/v_cache: rows [0, n_kv) of kv_stride floats each, this head's kv
// slice starting at column 0 of the given pointers; scores: scratch of n_kv floats.
// out[head_dim] = sum_j softmax_j(q.k_j * scale) v_j. Softmax in f32 with the max subtracted.
void attention_head(const float* q, const float* k_cache, const float* v_cache, uint64 kv_stride, uint32 n_kv, uint32 head_dim, float scale,
                    float* scores, float* out, KernelPath path = KernelPath::Auto);

// The same over the keys of up to two runs of cache rows (a ring of rows wraps once), with an
// optional soft-cap of the scores: s = softcap * tanh(q.k * scale / softcap) (0: none), as
// llama.cpp's flash attention computes it. scores: scratch of runs[0].n + runs[1].n floats.
struct KvRun {
    const float* k = nullptr;  // first row of the run, this head's slice
    const float* v = nullptr;
    uint32 n = 0;              // rows
};
struct AttentionArgs {
    const float* q = nullptr;  // (head_dim)
    KvRun runs[2];
    uint64 kv_stride = 0;      // floats between cache rows
    uint32 head_dim = 0;
    float scale = 1.0f;
    float softcap = 0.0f;
    float* scores = nullptr;
    float* out = nullptr;      // (head_dim)
};
void attention_head(const AttentionArgs& a, KernelPath path = KernelPath::Auto);

// gate[n] = silu(gate[n]) * up[n], silu(g) = g / (1 + exp(-g)).
void swiglu(float* gate, const float* up, uint64 n);
// gate[n] = gelu_tanh(gate[n]) * up[n], gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) g (1 + 0.044715 g^2))).
void geglu(float* gate, const float* up, uint64 n);
// x[n] = cap * tanh(x[n] / cap) (computed as x * (1 / cap), as llama.cpp's graph does).
void softcap(float* x, uint64 n, float cap);
// y[n] += x[n]
void add_inplace(float* y, const float* x, uint64 n);

}  // namespace vk_symbiote::cpu
