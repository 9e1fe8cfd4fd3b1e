// DecodeAhead: greedy decoding with token t + 1 queued before token t ends (--decode-pipeline
// on: VulkanOptions::decode_ahead). Every pass with one logits row ends with an argmax over it on
// the device (decode_ahead.comp ARGMAX: the id into `ids`, copied to host-visible `ids_rb`), so
// the next token's pass can start from that id (EMBED_ROW: its row of `table`, the embedding
// table in f32 as embedding_input gives it) and is submitted right behind token t's, before the
// host has read token t: the GPU finds the next token's command buffer queued when it ends one.
// The host sampler still decides: the queued pass is used only when the token the caller passes
// next equals that id (always for a greedy sampler); otherwise it is waited for and dropped (its
// K / V row is at a position past what the sequence holds, written again by the next pass there).
// Two passes may be in flight; each takes one of two banks (descriptor sets, rows image staging,
// logits and id readbacks, GPU-time queries), alternating. Paged KV pool, every weight resident,
// no CPU part, no mixture, no cache in RAM, a whole model (VulkanBackend::ahead_refusal).
#pragma once

#include <memory>
#include <vector>

#include "backend/KvBlockPool.h"
#include "backend/vulkan/BatchRows.h"
#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "backend/vulkan/VulkanOps.h"
#include "backend/vulkan/WeightStreamRing.h"

namespace vk_symbiote {

class DecodeAhead {
public:
    // Device bytes it adds: the table (n_vocab x n_embd f32) and the id (one uint, 16 bytes).
    static uint64 table_bytes(const ModelConfig& cfg) { return uint64(cfg.n_vocab) * cfg.n_embd * 4; }
    // Uploads the table (embedding_input of every token) and makes bank 1's host buffers:
    // rows_bytes of rows image staging (ModelBuffers::pass_rows_up's size), n_vocab floats of logits.
    static Expected<std::unique_ptr<DecodeAhead>> create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint64 rows_bytes);

    // x row 0 = the embedding row of the id the last argmax wrote (a queued pass's first kernel).
    ExpectedVoid record_embed(OpContext& c, VkBuffer x) const;
    // ids = argmax of logits row 0, copied into bank's slot of ids_rb (after the head's barrier).
    ExpectedVoid record_argmax(OpContext& c, WeightStreamRing& ring, VkBuffer logits, uint32 bank) const;
    // The id bank's pass wrote (after its fence).
    uint32 read_id(uint32 bank) const { return static_cast<const uint32*>(ids_rb_.mapped())[bank]; }

    // Bank 1's host buffers (bank 0's are ModelBuffers::pass_rows_up and logits_rb).
    DeviceBuffer rows_up, logits_rb;

    // The pass queued ahead (active: submitted, not yet waited for): the sequence's block table
    // as it was, the position it computes, its bank and command buffer (WeightStreamRing).
    struct Queued {
        bool active = false;
        const KvBlockTable* kv = nullptr;
        std::vector<uint32> blocks;
        uint32 pos = 0;
        uint32 bank = 0;
        uint32 cmd = 0;
        uint32 token = 0;  // the id it embeds (read_id of the pass before it)
    };
    Queued queued;
    // The queued pass's rows: its sequence's table with one more position, `unread_token` as the
    // token slot a request needs (never read: the pass's first kernel embeds the device's argmax)
    // and `out` as its logits pointer (only marks the row).
    BatchRows rows;
    KvBlockTable table;
    uint32 unread_token = 0;
    float out = 0.0f;
    uint32 next_bank = 0;   // the bank of the next pass
    int64 predicted = -1;   // argmax of the last finished pass with one logits row (-1: none, or not one row)
    uint64 used = 0, dropped = 0;  // queued passes used / dropped since prepare()

private:
    explicit DecodeAhead(const ModelConfig& cfg) : n_vocab_(cfg.n_vocab), n_embd_(cfg.n_embd) {}
    ExpectedVoid upload_table(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg);

    uint32 n_vocab_, n_embd_;
    DeviceBuffer table_;   // (n_vocab, n_embd) f32, embd_scale applied
    DeviceBuffer ids_;     // (1) uint: the last argmax
    DeviceBuffer ids_rb_;  // (2) uint, host-visible: each bank's argmax
};

}  // namespace vk_symbiote
