// VulkanBackend with DecodeAhead (--decode-pipeline on): whether the placement can queue a token
// ahead, and forward_batch's passes when it does. Each call runs (or finds queued) the pass of
// its rows; when the caller's token was the device's argmax of the last pass (a greedy sampler)
// and the row is one sequence's decode step, the pass of the token after it is recorded and
// submitted before this one is waited for, so the GPU never waits for the host between tokens.
#include "backend/vulkan/ForwardPass.h"
#include "backend/vulkan/VulkanBackend.h"
#include "config/Logger.h"

namespace vk_symbiote {

std::string VulkanBackend::ahead_refusal(uint64 budget) const {
    const VulkanModel& m = *model_;
    if (!opt_.decode_one_submission) return "it needs one submission per token";
    if (!cfg_.embeds || !cfg_.head) return "this is a part of a model split across devices or stages (no token ids in, or no logits out)";
    if (!m.kv) return "it needs the paged KV cache (f16 caches, no hybrid decode)";
    if (m.w.plan.slots > 0 || m.hybrid || m.rows || m.batch) return "weights stream (it needs every weight resident)";
    if (m.moe) return "a mixture of experts routes on the host";
    if (m.host_att) return "KV caches in RAM";
    if (rt_->kernel_profiling()) return "kernel profiling is on";
    const uint64 table = DecodeAhead::table_bytes(cfg_);
    if (table > dev_->caps().max_storage_buffer_range) return "its f32 embedding table exceeds maxStorageBufferRange";
    if (mem_->device_stats().bytes_reserved + vram_alloc_cost(table, mem_->device_block_size()) > budget)
        return "the VRAM budget has no room for its f32 embedding table (" + std::to_string(table >> 20) + " MiB)";
    return "";
}

ExpectedVoid VulkanBackend::setup_decode_ahead(WeightProvider& weights, uint64 budget) {
    if (!opt_.decode_ahead) return {};
    if (const std::string no = ahead_refusal(budget); !no.empty()) {
        VKS_LOG_INFO("--decode-pipeline: no token queued ahead: " << no);
        return {};
    }
    VulkanContext c = ctx();
    auto a = DecodeAhead::create(c, weights, cfg_, model_->buf.pass_rows_up.get().size);
    if (!a) return a.error();
    model_->ahead = std::move(*a);
    return {};
}

ExpectedVoid VulkanBackend::drop_ahead() {
    DecodeAhead& a = *model_->ahead;
    if (!a.queued.active) return {};
    a.queued.active = false;
    ++a.dropped;
    return model_->ring->finish(a.queued.bank);  // its K / V row lies past what its sequence holds
}

// The queued pass computes exactly these rows: the same sequence (table, blocks), position, and
// the token it embedded on the device.
bool VulkanBackend::ahead_matches(const std::vector<SeqChunk>& chunks) const {
    const DecodeAhead::Queued& q = model_->ahead->queued;
    if (!q.active || chunks.size() != 1) return false;
    const SeqChunk& c = chunks[0];
    return c.n_tokens == 1 && !c.all_logits && c.logits && c.kv == q.kv && c.kv->blocks == q.blocks && c.pos == q.pos && c.tokens[0] == q.token;
}

// The pass of the token after `c`'s one row, submitted now behind it (bank: the one after
// after_bank). Only where the next position stays in the block of c's row (that block was made
// writable for it; a new block would need prepare_write, and the next may be shared) and in n_ctx.
ExpectedVoid VulkanBackend::queue_ahead(const SeqChunk& c, uint32 after_bank) {
    VulkanModel& m = *model_;
    DecodeAhead& a = *m.ahead;
    const uint32 next = c.pos + 1, P = m.kv->pool().block_positions();
    if (next >= n_ctx_ || next % P == 0 || uint64(c.kv->blocks.size()) * P <= next) return {};
    a.table = KvBlockTable{c.kv->blocks, next + 1};
    VKS_TRY(a.rows.bind({SeqChunk{&a.table, &a.unread_token, 1, next, false, &a.out}}, cfg_, n_ctx_, n_batch_, m.kv->pool().layout()));
    const uint32 bank = after_bank ^ 1u;
    const ForwardRequest req{&a.unread_token, 1, 0, false, nullptr};
    VulkanContext cx = ctx();
    VKS_TRY(ForwardPass(cx, m, counters_, req, &a.rows, AheadPass{bank, true}).run());
    a.queued = DecodeAhead::Queued{true, c.kv, c.kv->blocks, next, bank, m.ring->last_cmd(), 0};
    a.next_bank = bank ^ 1u;
    return {};
}

ExpectedVoid VulkanBackend::forward_ahead(const std::vector<SeqChunk>& chunks) {
    VulkanModel& m = *model_;
    DecodeAhead& a = *m.ahead;
    // The caller chose the device's argmax of the last pass: a greedy sampler, most likely.
    const bool follows = chunks.size() == 1 && chunks[0].n_tokens == 1 && chunks[0].logits && a.predicted >= 0 &&
                         chunks[0].tokens[0] == uint32(a.predicted);
    a.queued.token = uint32(a.predicted);
    const bool hit = follows && ahead_matches(chunks);
    if (a.queued.active && !hit) VKS_TRY(drop_ahead());
    const uint64 shader_before = m.shader_copied;
    uint32 bank = a.next_bank, cmd = 0;
    if (hit) {
        bank = a.queued.bank;
        cmd = a.queued.cmd;
        a.queued.active = false;
        ++a.used;
    } else {
        a.next_bank ^= 1u;
        const ForwardRequest req{rows_.tokens().data(), rows_.n_rows(), 0, false, nullptr};
        VulkanContext c = ctx();
        auto r = ForwardPass(c, m, counters_, req, &rows_, AheadPass{bank, false}).run();
        if (!r) return finish_pass(std::move(r), req.n_tokens, shader_before);  // drains the ring
        cmd = m.ring->last_cmd();
    }
    auto q = follows ? queue_ahead(chunks[0], bank) : ExpectedVoid{};
    if (!q) a.queued.active = false;
    VKS_TRY(finish_ahead(std::move(q), cmd, bank, shader_before));
    a.predicted = rows_.out_rows().size() == 1 ? int64(a.read_id(bank)) : -1;
    return read_batch_logits(bank);
}

// This pass's end while the one queued behind it (if any) keeps running; on an error both.
ExpectedVoid VulkanBackend::finish_ahead(ExpectedVoid r, uint32 cmd, uint32 bank, uint64 shader_before) {
    WeightStreamRing& ring = *model_->ring;
    if (!r || !model_->ahead->queued.active) return finish_pass(std::move(r), rows_.n_rows(), shader_before, bank);
    VKS_TRY(ring.finish_cmd(cmd, bank));
    total_gpu_ns_ += ring.last_gpu_time_ns();
    record_telemetry(rows_.n_rows(), shader_before, false);
    return {};
}

}  // namespace vk_symbiote
