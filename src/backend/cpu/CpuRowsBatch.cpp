// CpuBackend's batched parts of the Vulkan backend's hybrid rows split (BatchRowsPass): the
// CPU computes rows [0, r) of every matrix of a streamed layer for all n rows of a batched
// pass, reading each weight row once for the n rows (project / project_all take n tokens).
#include <algorithm>

#include "backend/cpu/CpuBackend.h"

namespace vk_symbiote {

namespace {

Error rows_error(const std::string& what) { return make_error(ErrorCode::InvalidArgument, "cpu backend: " + what); }

// Rows [0, n) of src (row stride `stride`), columns [0, cols) -> dst packed (n, cols).
void pack_cols(const float* src, uint64 stride, uint32 n, uint64 cols, float* dst) {
    for (uint32 t = 0; t < n; ++t) std::copy(src + t * stride, src + t * stride + cols, dst + t * cols);
}

}  // namespace

ExpectedVoid CpuBackend::qkv_heads(uint32 l, const float* x, uint32 n, uint32 kv_heads) {
    const int32 L = int32(l);
    const uint32 hd = cfg_.head_dim, heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    VKS_TRY(load_vector({TensorRole::AttnNorm, L}, E));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    // q -> q_ (n, Q), k -> k_ and v -> v_ (n, KV): only the columns of those heads are written.
    VKS_TRY(project_all({{{TensorRole::Wq, L}, Q, E, xb_.data(), E, n, q_.data(), Q, uint64(heads) * hd},
                         {{TensorRole::Wk, L}, KV, E, xb_.data(), E, n, k_.data(), KV, uint64(kv_heads) * hd},
                         {{TensorRole::Wv, L}, KV, E, xb_.data(), E, n, v_.data(), KV, uint64(kv_heads) * hd}}));
    VKS_TRY(qkv_extras(l, n, heads, kv_heads));
    rope_and_round(l, n, heads, kv_heads);
    return {};
}

ExpectedVoid CpuBackend::qkv_rows(uint32 l, const float* x, uint32 n, const uint32* pos, uint32 kv_heads, float* q, float* k, float* v) {
    VKS_TRY(check_part(l, "qkv_rows"));
    if (n == 0 || n > n_batch_ || kv_heads > cfg_.n_head_kv)
        return rows_error("qkv_rows: " + std::to_string(n) + " rows (n_batch " + std::to_string(n_batch_) + "), " + std::to_string(kv_heads) + " KV heads of " +
                          std::to_string(cfg_.n_head_kv));
    const uint32 hd = cfg_.head_dim, heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    std::copy(pos, pos + n, row_pos_.begin());  // rope_and_round reads each row's position here
    VKS_TRY(qkv_heads(l, x, n, kv_heads));
    pack_cols(q_.data(), Q, n, uint64(heads) * hd, q);
    pack_cols(k_.data(), KV, n, uint64(kv_heads) * hd, k);
    pack_cols(v_.data(), KV, n, uint64(kv_heads) * hd, v);
    return {};
}

ExpectedVoid CpuBackend::ffn_rows(uint32 l, const float* x, uint32 n, uint64 units, float* h) {
    VKS_TRY(check_part(l, "ffn_rows"));
    if (cfg_.is_moe()) return rows_error("ffn_rows: a mixture-of-experts layer has no dense FFN rows to split");
    if (n == 0 || n > n_batch_ || units > cfg_.n_ff)
        return rows_error("ffn_rows: " + std::to_string(n) + " rows (n_batch " + std::to_string(n_batch_) + "), " + std::to_string(units) + " units of " +
                          std::to_string(cfg_.n_ff));
    VKS_TRY(ffn_hidden(l, x, n, units));
    pack_cols(gate_.data(), cfg_.n_ff, n, units, h);
    return {};
}

ExpectedVoid CpuBackend::project_rows(TensorId id, uint64 rows, const float* x, uint32 n, float* y) {
    if (!weights_) return rows_error("project_rows() called before prepare()");
    const auto [R, C] = matrix_shape(id.role);
    if (R == 0 || rows > R || n == 0) return rows_error("project_rows: rows " + std::to_string(rows) + " of '" + tensor_name(id) + "' for " + std::to_string(n) + " inputs");
    if (rows == 0) return {};
    return project(id, R, C, x, C, n, y, rows, rows);
}

ExpectedVoid CpuBackend::output_rows_part(const float* x, uint32 n, uint64 rows, float* logits) {
    if (!weights_) return rows_error("output_rows_part() called before prepare()");
    if (rows > cfg_.n_vocab || n == 0 || n > n_batch_)
        return rows_error("output_rows_part: " + std::to_string(rows) + " rows of " + std::to_string(cfg_.n_vocab) + " for " + std::to_string(n) + " inputs");
    if (rows == 0) return {};
    const uint64 E = cfg_.n_embd;
    VKS_TRY(load_vector({TensorRole::OutputNorm, -1}, E));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    VKS_TRY(project({TensorRole::Output, -1}, cfg_.n_vocab, E, xb_.data(), E, n, logits, rows, rows));
    if (cfg_.final_softcap > 0.0f) cpu::softcap(logits, uint64(n) * rows, cfg_.final_softcap);
    return {};
}

}  // namespace vk_symbiote
