// BatchRows: the rows of one batched forward pass on the device (VulkanBackend::forward_batch):
// the chunks of several sequences laid out as consecutive rows (row r: token r of the chunks in
// order), each row's position and sequence, and the pass buffer the kernels read them from.
// Every weight kernel treats the rows as tokens of one batch; what depends on a row's sequence
// reads the pass buffer:
// - rope: per-row (cos, sin) rows, each row's position gathered from the model's rope tables,
//   so the fused rope kernels run unchanged with pos0 0 (sliding layers with their own rope
//   base read the rows from n_rows on: pos0 n_rows);
// - attention (attention.comp PAGED): per row (position, chunk's first position, that
//   position's row, block table offset), then each chunk's block table.
#pragma once

#include <vector>

#include "backend/Backend.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class BatchRows {
public:
    // The pass buffer for n_batch rows of sequences of at most n_ctx positions in blocks of
    // block_positions: rope rows first ([2][n_batch][n_rot / 2][2] floats), the row info from
    // info_offset (a multiple of align bytes).
    static uint64 info_offset(const ModelConfig& cfg, uint32 n_batch, uint64 align);
    static uint64 buffer_bytes(const ModelConfig& cfg, uint32 n_batch, uint32 n_ctx, uint32 block_positions, uint64 align);

    // Checks the chunks against the model (tokens), n_ctx, n_batch (total rows) and the pool
    // (block tables that cover each chunk's positions, block ids in range), then lays out their rows.
    ExpectedVoid bind(const std::vector<SeqChunk>& chunks, const ModelConfig& cfg, uint32 n_ctx, uint32 n_batch, const KvLayout& pool);
    uint32 n_rows() const { return uint32(tokens_.size()); }
    uint32 n_chunks() const { return uint32(chunks_.size()); }
    const std::vector<uint32>& tokens() const { return tokens_; }  // (n_rows)
    uint32 position(uint32 r) const { return pos_[r]; }             // row r's position in its sequence
    // Rows whose logits the chunks want, in chunk order: the pass's logits row i is out_rows()[i]'s.
    const std::vector<uint32>& out_rows() const { return out_rows_; }
    // The pass buffer's contents for this pass (bytes, up to the end of the block tables).
    // rope / rope_swa: the model's tables ([n_ctx][n_rot / 2][2] floats; rope_swa may be empty).
    std::vector<uint32> image(const ModelConfig& cfg, uint32 n_batch, uint64 align, const std::vector<float>& rope,
                              const std::vector<float>& rope_swa) const;
    // Logits rows [0, out_rows) -> the chunks' logits (n_vocab floats per row).
    void scatter_logits(const float* logits, uint32 n_vocab) const;

private:
    std::vector<SeqChunk> chunks_;
    std::vector<uint32> tokens_, pos_, chunk_of_, first_row_, out_rows_;  // first_row_: per chunk
};

}  // namespace vk_symbiote
