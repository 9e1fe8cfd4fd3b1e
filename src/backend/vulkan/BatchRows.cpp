#include "backend/vulkan/BatchRows.h"

#include <cstring>

namespace vk_symbiote {

namespace {

uint64 round_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }
Error rows_error(const std::string& what) { return make_error(ErrorCode::InvalidArgument, "vulkan forward_batch: " + what); }

}  // namespace

uint64 BatchRows::info_offset(const ModelConfig& cfg, uint32 n_batch, uint64 align) {
    return round_up(2ull * n_batch * cfg.n_rot * 4, align);
}

uint64 BatchRows::buffer_bytes(const ModelConfig& cfg, uint32 n_batch, uint32 n_ctx, uint32 block_positions, uint64 align) {
    // Row info (4 per row), and at most one block table of a full context per row.
    const uint64 blocks = (uint64(n_ctx) + block_positions - 1) / block_positions;
    return info_offset(cfg, n_batch, align) + (4ull * n_batch + uint64(n_batch) * blocks) * 4;
}

ExpectedVoid BatchRows::bind(const std::vector<SeqChunk>& chunks, const ModelConfig& cfg, uint32 n_ctx, uint32 n_batch, const KvLayout& pool) {
    uint64 total = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const SeqChunk& c = chunks[i];
        const std::string at = "chunk " + std::to_string(i) + ": ";
        if (!c.kv || !c.tokens || c.n_tokens == 0) return rows_error(at + "needs a block table and at least one token");
        if (uint64(c.pos) + c.n_tokens > n_ctx)
            return rows_error(at + "positions [" + std::to_string(c.pos) + ", " + std::to_string(uint64(c.pos) + c.n_tokens) + ") exceed n_ctx " + std::to_string(n_ctx));
        if (c.kv->n_pos < c.pos + c.n_tokens || uint64(c.kv->blocks.size()) * pool.block_positions < c.kv->n_pos)
            return rows_error(at + "its block table does not cover positions [0, " + std::to_string(c.pos + c.n_tokens) + ") (KvBlockPool::prepare_write first)");
        if (c.kv->blocks.size() > pool.blocks_for(n_ctx))  // the pass buffer holds one context's table per row
            return rows_error(at + "its block table of " + std::to_string(c.kv->blocks.size()) + " blocks is longer than n_ctx " + std::to_string(n_ctx));
        for (uint32 b : c.kv->blocks)
            if (b >= pool.n_blocks) return rows_error(at + "block " + std::to_string(b) + " is not in the pool");
        for (uint32 t = 0; t < c.n_tokens; ++t)
            if (c.tokens[t] >= cfg.input_ids()) return rows_error(at + "token " + std::to_string(c.tokens[t]) + " at index " + std::to_string(t) + " >= n_vocab " + std::to_string(cfg.input_ids()));
        for (size_t j = 0; j < i; ++j)
            if (chunks[j].kv == c.kv) return rows_error(at + "the same block table as chunk " + std::to_string(j));
        total += c.n_tokens;
    }
    if (chunks.empty() || total > n_batch)
        return rows_error(std::to_string(total) + " tokens in " + std::to_string(chunks.size()) + " chunks (1 to n_batch " + std::to_string(n_batch) + ")");
    chunks_ = chunks;
    for (std::vector<uint32>* v : {&tokens_, &pos_, &chunk_of_, &first_row_, &out_rows_}) v->clear();
    for (uint32 c = 0; c < chunks.size(); ++c) {
        first_row_.push_back(uint32(tokens_.size()));
        for (uint32 t = 0; t < chunks[c].n_tokens; ++t) {
            const bool out = chunks[c].logits && (chunks[c].all_logits || t + 1 == chunks[c].n_tokens);
            if (out) out_rows_.push_back(uint32(tokens_.size()));
            tokens_.push_back(chunks[c].tokens[t]);
            pos_.push_back(chunks[c].pos + t);
            chunk_of_.push_back(c);
        }
    }
    return {};
}

std::vector<uint32> BatchRows::image(const ModelConfig& cfg, uint32 n_batch, uint64 align, const std::vector<float>& rope,
                                     const std::vector<float>& rope_swa) const {
    const uint32 R = cfg.n_rot, n = n_rows();
    const uint64 info = info_offset(cfg, n_batch, align) / 4;
    uint64 table_entries = 0;
    for (const SeqChunk& c : chunks_) table_entries += c.kv->blocks.size();
    std::vector<uint32> img(info + 4ull * n + table_entries, 0);
    // Rope rows: row r's (cos, sin) pairs are its position's (R floats), then the same from rope_swa.
    for (uint32 r = 0; r < n; ++r) {
        std::memcpy(&img[uint64(r) * R], rope.data() + uint64(pos_[r]) * R, R * 4);
        if (!rope_swa.empty()) std::memcpy(&img[uint64(n + r) * R], rope_swa.data() + uint64(pos_[r]) * R, R * 4);
    }
    std::vector<uint32> table_of(chunks_.size());
    uint64 t = info + 4ull * n;
    for (size_t c = 0; c < chunks_.size(); ++c) {
        table_of[c] = uint32(t - info);  // offsets are relative to the row info (bound at info_offset)
        for (uint32 b : chunks_[c].kv->blocks) img[t++] = b;
    }
    for (uint32 r = 0; r < n; ++r) {
        const uint32 c = chunk_of_[r];
        uint32* row = &img[info + 4ull * r];
        row[0] = pos_[r];
        row[1] = chunks_[c].pos;
        row[2] = first_row_[c];
        row[3] = table_of[c];
    }
    return img;
}

void BatchRows::scatter_logits(const float* logits, uint32 n_vocab) const {
    size_t i = 0;
    for (uint32 c = 0; c < chunks_.size(); ++c) {
        const SeqChunk& ch = chunks_[c];
        if (!ch.logits) continue;
        const uint32 n_out = ch.all_logits ? ch.n_tokens : 1;
        std::memcpy(ch.logits, logits + i * n_vocab, size_t(n_out) * n_vocab * 4);
        i += n_out;
    }
}

}  // namespace vk_symbiote
