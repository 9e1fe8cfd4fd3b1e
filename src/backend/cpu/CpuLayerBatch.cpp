// CpuBackend::forward_layer_batch: one layer over the chunks of several sequences, for pipeline
// stages that hold a range of layers and run each micro-batch layer by layer.
#include "backend/cpu/CpuBackend.h"

namespace vk_symbiote {

ExpectedVoid CpuBackend::forward_layer_batch(uint32 layer, float* x, const std::vector<SeqChunk>& chunks) {
    if (!weights_) return make_error(ErrorCode::InvalidArgument, "cpu backend: forward_layer_batch() called before prepare()");
    uint64 n = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const SeqChunk& c = chunks[i];
        if (!c.kv || c.n_tokens == 0 || uint64(c.pos) + c.n_tokens > n_ctx_ || c.kv->n_pos < c.pos + c.n_tokens)
            return make_error(ErrorCode::InvalidArgument, "cpu backend: forward_layer_batch: chunk " + std::to_string(i) + " (positions [" + std::to_string(c.pos) + ", " +
                                                              std::to_string(uint64(c.pos) + c.n_tokens) + ")) has no block table covering it or exceeds n_ctx " +
                                                              std::to_string(n_ctx_));
        n += c.n_tokens;
    }
    if (layer >= cfg_.n_layer || n == 0 || n > n_batch_)
        return make_error(ErrorCode::InvalidArgument, "cpu backend: forward_layer_batch(" + std::to_string(layer) + ", " + std::to_string(n) + " rows) out of range (" +
                                                          std::to_string(cfg_.n_layer) + " layers, n_batch " + std::to_string(n_batch_) + ")");
    bind_rows(chunks);
    const uint64 count = n * cfg_.n_embd;
    std::copy(x, x + count, x_.begin());
    VKS_TRY(attention_block(layer, uint32(n)));
    VKS_TRY(ffn_block(layer, uint32(n)));
    std::copy(x_.begin(), x_.begin() + count, x);
    return {};
}

}  // namespace vk_symbiote
