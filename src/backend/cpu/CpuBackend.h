// CpuBackend: the exact f32 forward pass of every model family (ModelConfig's flags: biases,
// Q/K head norms, post norms, GELU, rope layouts and factors, soft-caps, sliding windows) on
// the CPU: the reference for every other backend, the fallback without a GPU, and the hybrid
// decode's CPU part. Weights come only through the WeightProvider (acquire, embedding_row); the
// paged f32 KV cache (CpuKvStore: every position of every layer, sliding layers included) and
// activations are owned here. Every pass is one batched step over
// sequence chunks (forward_batch); forward() and the co-processor calls run the backend's
// own sequence, whose blocks come from the same pool. One pass at a time; kernels run on
// its ThreadPool.
#pragma once

#include <memory>
#include <vector>

#include "backend/Backend.h"
#include "backend/cpu/AlignedFloats.h"
#include "backend/cpu/CpuKernels.h"
#include "backend/cpu/MoeFfn.h"
#include "backend/cpu/ProjectJob.h"
#include "backend/cpu/CpuKvStore.h"
#include "backend/cpu/ThreadPool.h"

namespace vk_symbiote {

// Precision of the attention inputs. F32 keeps everything in f32 (the default: the exact
// function). F16Rounded rounds K, V (as they enter the cache) and Q (before QK^T) to f16
// precision, as llama.cpp's default f16 KV cache does; storage stays f32. It exists to
// compare with llama.cpp at its own precision: on stories260K it turns a 1e-6 logit NMSE
// into 1e-7.
enum class KvPrecision : uint32 { F32 = 0, F16Rounded = 1 };

class CpuBackend final : public Backend {
public:
    // n_threads == 0: all hardware threads. path: kernel path (Auto = AVX2 when available).
    explicit CpuBackend(uint32 n_threads, cpu::KernelPath path = cpu::KernelPath::Auto, KvPrecision kv = KvPrecision::F32);

    std::string name() const override;  // e.g. "cpu (avx2, 2 threads)"
    // The paged KV cache holds `tokens` positions over all sequences (rounded up to whole
    // blocks; 0: n_ctx, one full context). Takes effect at the next prepare().
    void set_kv_pool_tokens(uint64 tokens) { kv_tokens_ = tokens; }
    // Allocates the paged f32 KV cache (KvLayout::for_tokens) and activations for n_batch
    // tokens; a sequence holds at most n_ctx positions. The provider must outlive the backend
    // (or the next prepare()).
    ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) override;
    // The backend's own sequence: batches larger than n_batch are split; req.pos must be
    // <= n_past() (the cache holds [0, n_past)), and pos + n_tokens <= n_ctx.
    ExpectedVoid forward(const ForwardRequest& req) override;
    // Empties the own sequence (its blocks go back to the pool).
    void reset() override;
    uint32 n_ctx() const override { return n_ctx_; }
    BackendStats stats() override;
    KvBlockPool* kv_pool() override { return weights_ ? &kv_.pool() : nullptr; }
    ExpectedVoid forward_batch(const std::vector<SeqChunk>& chunks) override;

    // Co-processor use (hybrid CPU + GPU forward pass), on the own sequence: runs layer
    // `layer` (every family feature) on x[n][n_embd] in place, for tokens at positions
    // [pos, pos + n), with the own sequence's KV rows of that layer (which must hold the
    // positions those tokens attend to).
    // No bounds on n_past().
    ExpectedVoid forward_layer(uint32 layer, float* x, uint32 n, uint32 pos);
    // Pipeline stages (src/pipeline), several sequences at once: layer `layer` on x (rows of
    // `chunks` in order, (sum of n_tokens, n_embd)) in place, each chunk's K / V in its own
    // blocks of kv_pool() (KvBlockPool::prepare_write first; tokens unused). CpuLayerBatch.cpp.
    ExpectedVoid forward_layer_batch(uint32 layer, float* x, const std::vector<SeqChunk>& chunks);
    // Hybrid row split, one token: the CPU computes rows [0, r) of a layer's matrices, the GPU
    // the others, and the caller exchanges the parts. Attention norm of x (n_embd), Q rows of
    // query heads [0, kv_heads * group), K / V of KV heads [0, kv_heads) into cache row pos,
    // with their biases and head norms, rope, attention (window, soft-cap)
    // -> att[0, kv_heads * group * head_dim).
    ExpectedVoid attention_part(uint32 layer, const float* x, uint32 pos, uint32 kv_heads, float* att);
    // FFN norm of x, rows [0, units) of gate and up -> h[0, units) = act(gate) * up (not for
    // models with experts).
    ExpectedVoid ffn_part(uint32 layer, const float* x, uint64 units, float* h);
    // y[0, rows) (+)= W[0, rows) x for matrix `id` (x: the matrix's cols). Refuses to
    // accumulate Wo / Wdown rows of a model with post norms: those norm the whole output before
    // it joins the residual, so the caller must assemble it, norm it and add it.
    ExpectedVoid project_part(TensorId id, uint64 rows, const float* x, float* y, bool accumulate);
    // x[n_embd] += rmsnorm(o) * the weights of `norm` (a layer's PostAttnNorm / PostFfnNorm):
    // the residual step of a post-norm model whose block output o the caller assembled.
    ExpectedVoid post_norm_part(TensorId norm, const float* o, float* x);
    // Output norm of x, logits[0, rows) = Output[0, rows) norm(x), soft-capped if the model says so.
    ExpectedVoid output_part(const float* x, uint64 rows, float* logits);
    // Hybrid row split, a batch of n rows (n <= n_batch; CpuRowsBatch.cpp): the CPU's rows of
    // each matrix for every row at once, the weights read once. No KV cache: the device's pool
    // holds every head's K / V and runs attention. x, y: row-major, packed (row stride = cols).
    // Attention norm, Q rows of query heads [0, kv_heads * group) -> q (n, that many * head_dim),
    // K / V of KV heads [0, kv_heads) -> k, v (n, kv_heads * head_dim); biases, head norms, rope
    // at each row's position pos[t], f16 rounding as the cache's precision.
    ExpectedVoid qkv_rows(uint32 layer, const float* x, uint32 n, const uint32* pos, uint32 kv_heads, float* q, float* k, float* v);
    // FFN norm of x (n, n_embd), units [0, units) of act(gate) * up -> h (n, units).
    ExpectedVoid ffn_rows(uint32 layer, const float* x, uint32 n, uint64 units, float* h);
    // y (n, rows) = W[0, rows) x[t] for matrix `id` (x: (n, cols)).
    ExpectedVoid project_rows(TensorId id, uint64 rows, const float* x, uint32 n, float* y);
    // Output norm of x (n, n_embd), logits (n, rows) = Output[0, rows) norm(x[t]), soft-capped.
    ExpectedVoid output_rows_part(const float* x, uint32 n, uint64 rows, float* logits);
    // The own sequence's KV rows, to sync with a device copy: reserve_kv(end) gives it blocks
    // for positions [0, end) (end <= n_ctx); kv_row then addresses row pos < end of layer
    // `layer`, K or V (kv_dim floats).
    ExpectedVoid reserve_kv(uint32 end);
    float* kv_row(uint32 layer, bool v, uint32 pos) { return kv_.row(own_, layer, v, pos); }

    uint32 n_threads() const { return pool_.size(); }
    // The decode matvecs' software prefetch (cpu::MatmulArgs::prefetch_bytes; default
    // cpu::kDefaultMatvecPrefetchBytes, 0: none) and whether a group of independent matvecs
    // (Q / K / V, gate / up) runs as one pool run (project_all; default on).
    void set_matvec_options(uint64 prefetch_bytes, bool batch) {
        prefetch_bytes_ = prefetch_bytes;
        batch_ = batch;
    }
    uint64 matvec_prefetch_bytes() const { return prefetch_bytes_; }
    bool matvec_batch() const { return batch_; }
    uint32 n_past() const { return n_past_; }
    cpu::KernelPath kernel_path() const { return path_; }

private:
    // Checks forward_batch's chunks against the model, the context and the pool.
    ExpectedVoid check_chunks(const std::vector<SeqChunk>& chunks) const;
    // The rows of one pass: row r is token r of the chunks in order (n_rows_ in all), at
    // position row_pos_[r] of chunk row_chunk_[r].
    void bind_rows(const std::vector<SeqChunk>& chunks);
    // One pass over checked chunks: embedding rows, every layer, the logits they want.
    ExpectedVoid run_pass(const std::vector<SeqChunk>& chunks);
    // The own sequence's chunk of n tokens at pos (tokens: nullptr for the co-processor
    // calls, whose input is x); gives the own table blocks up to pos + n.
    Expected<SeqChunk> own_chunk(const uint32* tokens, uint32 n, uint32 pos);
    ExpectedVoid attention_block(uint32 layer, uint32 n);
    // Attention norm of x (n rows), Q rows of the query heads of KV heads [0, kv_heads), K / V
    // columns of those KV heads, biases, head norms, rope, into each row's cache row; attention
    // -> att_ (attention_block: every head; attention_part: the CPU's share of a row split).
    ExpectedVoid attention_heads(uint32 layer, const float* x, uint32 n, uint32 kv_heads);
    // Its first half, shared with qkv_rows: norm, Q / K / V columns of those heads, extras, rope
    // and rounding, into q_, k_, v_ (n rows; row_pos_ holds each row's position).
    ExpectedVoid qkv_heads(uint32 layer, const float* x, uint32 n, uint32 kv_heads);
    // Q / K / V biases and Q / K head norms of the first `heads` / `kv_heads` heads of q_, k_
    // (before rope).
    ExpectedVoid qkv_extras(uint32 layer, uint32 n, uint32 heads, uint32 kv_heads);
    // Rope of q_ and k_ at each row's position (the layer's base and scale, the model's
    // factors), then the f16 rounding of q_, k_ and v_.
    void rope_and_round(uint32 layer, uint32 n, uint32 heads, uint32 kv_heads);
    // K / V rows of n tokens (k_, v_; columns [0, cols)) into their sequences' blocks of layer l.
    void store_kv(uint32 layer, uint32 n, uint64 cols);
    // FFN norm of x (n tokens), rows [0, units) of gate and up, act(gate) * up -> gate_.
    ExpectedVoid ffn_hidden(uint32 layer, const float* x, uint32 n, uint64 units);
    // Query heads [0, n_heads) (0: all) of n rows, each over its own sequence -> att_.
    void attention_core(uint32 layer, uint32 n, uint32 n_heads = 0);
    // kblk_ / vblk_: every chunk's block rows of layer l, chunk c's from blk_off_[c].
    void bind_blocks(uint32 layer);
    ExpectedVoid check_part(uint32 layer, const char* what) const;
    ExpectedVoid ffn_block(uint32 layer, uint32 n);
    // A mixture-of-experts layer's FFN: FFN norm of x_ -> moe_ -> proj_.
    ExpectedVoid moe_block(uint32 layer, uint32 n);
    // proj_ rows [0, n) -> RMSNorm by `norm` (post norms), then added to x_.
    ExpectedVoid add_residual(uint32 n, const TensorId* norm);
    // Logits of the rows the chunks want them for, all through one output projection
    // (soft-capped if the model says so).
    ExpectedVoid output_rows(const std::vector<SeqChunk>& chunks);
    using ProjectJob = cpu::ProjectJob;  // project()'s arguments
    // y[t][r] = W[r] . x[t] for rows r < row_end (all rows by default) of tensor id, slice by
    // slice. Checks the view's shape against (rows, cols) and that the slices cover every row.
    ExpectedVoid project(TensorId id, uint64 rows, uint64 cols, const float* x, uint64 x_stride, uint32 n, float* y, uint64 y_stride,
                         uint64 row_end = ~uint64(0));
    // Several independent projections (Q / K / V, gate / up). With RAM-resident weights
    // (stable_host_memory) one pool run computes them all (cpu::matmul_batch: one wake-up, one
    // tail); from packs one tensor is pinned at a time, as project() does.
    ExpectedVoid project_all(const std::vector<ProjectJob>& jobs);
    // The matmul arguments of job j's slices of view v (checks as project()).
    ExpectedVoid slice_args(const ProjectJob& j, const WeightView& v, std::vector<cpu::MatmulArgs>& out) const;
    // (rows, cols) of matrix `role` in this model.
    std::pair<uint64, uint64> matrix_shape(TensorRole role) const;
    // vec_[0, n) = the vector tensor `id` (a norm's weights or a bias, n values) in f32.
    ExpectedVoid load_vector(TensorId id, uint64 n);
    // hint_upcoming() with every tensor of `layer` (or the output tensors past the last layer).
    void hint_layer(uint32 layer);

    cpu::ThreadPool pool_;
    cpu::KernelPath path_;
    KvPrecision kv_precision_;
    uint64 prefetch_bytes_ = cpu::kDefaultMatvecPrefetchBytes;
    bool batch_ = true;
    WeightProvider* weights_ = nullptr;  // not owned
    ModelConfig cfg_;
    uint32 n_ctx_ = 0;
    uint32 n_batch_ = 0;
    uint32 n_past_ = 0;
    uint64 kv_tokens_ = 0;        // positions of the paged KV cache (0: n_ctx)

    std::vector<std::vector<TensorId>> layer_ids_;  // (n_layer + 1) tensors of each layer in use order; last: the head's
    CpuKvStore kv_;               // the paged KV cache: blocks and their pool
    KvBlockTable own_;            // forward()'s and the co-processor calls' sequence
    std::vector<SeqChunk> chunks_;              // the pass being computed
    std::vector<uint32> row_chunk_, row_pos_;   // (n_batch) chunk and position of each row
    std::vector<const float*> kblk_, vblk_;     // block rows of one layer, per chunk (bind_blocks)
    std::vector<uint64> blk_off_;               // (chunks) chunk c's first entry in kblk_ / vblk_
    cpu::AlignedFloats x_;        // (n_batch, n_embd) residual stream
    cpu::AlignedFloats xb_;       // (n_batch, n_embd) normed input of a block
    cpu::AlignedFloats q_;        // (n_batch, q_dim)
    cpu::AlignedFloats k_;        // (n_batch, kv_dim) new K rows before they enter the cache
    cpu::AlignedFloats v_;        // (n_batch, kv_dim) new V rows
    cpu::AlignedFloats att_;      // (n_batch, q_dim) attention output before wo
    cpu::AlignedFloats proj_;     // (n_batch, n_embd) output of wo / down
    cpu::AlignedFloats gate_;     // (n_batch, n_ff); empty with experts
    cpu::AlignedFloats up_;       // (n_batch, n_ff); empty with experts
    std::vector<float> vec_;      // (max(n_embd, q_dim)) current norm weights or bias in f32
    std::vector<float> scores_;   // (n_threads, n_ctx) attention scores scratch per worker
    cpu::MoeFfn moe_;             // the FFN of models with experts (its own buffers)
    std::vector<float> logits_;   // (rows, n_vocab) logits of a pass that feeds several chunks, grown on use
};

}  // namespace vk_symbiote
