#include "pipeline/PipelineScheduler.h"

#include <algorithm>

namespace vk_symbiote::pipeline {

PipelineScheduler::PipelineScheduler(PipelineStage& stage)
    : stage_(stage), n_vocab_(stage.model().config().n_vocab), slots_(stage.n_slots(), 0) {
    group_busy_.assign(std::min<uint32>(stage.n_slots(), stage.link().size()), false);
}

Sequence* PipelineScheduler::get(uint64 id) const {
    auto it = seqs_.find(id);
    return it == seqs_.end() ? nullptr : it->second.get();
}

uint32 PipelineScheduler::running() const { return uint32(std::count_if(slots_.begin(), slots_.end(), [](uint64 id) { return id != 0; })); }

Expected<uint64> PipelineScheduler::submit(SequenceRequest req) {
    if (req.prompt.empty()) return make_error(ErrorCode::InvalidArgument, "generation: empty prompt (no tokens)");
    for (size_t i = 0; i < req.prompt.size(); ++i)
        if (req.prompt[i] >= n_vocab_)
            return make_error(ErrorCode::InvalidArgument, "generation: prompt token " + std::to_string(req.prompt[i]) + " at index " + std::to_string(i) +
                                                              " is outside the vocabulary (" + std::to_string(n_vocab_) + ")");
    if (req.prompt.size() > stage_.n_ctx())
        return make_error(ErrorCode::InvalidArgument, "context full: a prompt of " + std::to_string(req.prompt.size()) + " tokens exceeds the context of " +
                                                          std::to_string(stage_.n_ctx()) + " positions (raise --ctx-size)");
    if (req.prefix_from || req.all_logits)
        return make_error(ErrorCode::Unsupported, "pipeline: a generation through the stages neither starts from a kept KV cache nor keeps every position's logits");
    req.keep_kv = false;
    req.draft = DraftParams{};  // no speculative drafts through the stages
    const uint64 id = next_id_++;
    seqs_[id] = std::make_unique<Sequence>(id, std::move(req), stage_.model().tokenizer(), n_vocab_, stage_.n_ctx());
    waiting_.push_back(id);
    return id;
}

// Waiting sequences take free slots, first come first served; each the free slot of the
// micro-batch with the fewest sequences, so that the micro-batches stay even.
void PipelineScheduler::admit() {
    const uint32 M = groups();
    while (!waiting_.empty()) {
        std::vector<uint32> load(M, 0);
        for (uint32 s = 0; s < slots_.size(); ++s) load[s % M] += slots_[s] ? 1 : 0;
        uint32 best = uint32(slots_.size());
        for (uint32 s = 0; s < slots_.size(); ++s)
            if (!slots_[s] && (best == slots_.size() || load[s % M] < load[best % M])) best = s;
        if (best == slots_.size()) return;
        const uint64 id = waiting_.front();
        waiting_.pop_front();
        get(id)->start(0);
        slots_[best] = id;
    }
}

// Micro-batch `group`'s next step: each running sequence's next prompt piece, or its last
// token, as long as the step has room (--step-tokens).
ExpectedVoid PipelineScheduler::launch(uint32 group) {
    const uint32 M = groups();
    uint32 live = 0;
    for (uint32 s = group; s < slots_.size(); s += M) live += slots_[s] ? 1 : 0;
    if (live == 0) return {};
    uint32 budget = stage_.n_batch();
    const uint32 cap = std::max<uint32>(1, budget / live);
    std::vector<StageChunk> chunks;
    std::vector<uint32> tokens;  // the chunks' tokens in order
    Flight f;
    f.group = group;
    for (uint32 s = group; s < slots_.size() && budget > 0; s += M) {
        Sequence* q = slots_[s] ? get(slots_[s]) : nullptr;
        if (!q) continue;
        const uint32 n = std::min({q->pending(), cap, budget});
        const bool want = q->chunk_logits(n) != nullptr;
        if (q->in_prompt()) stats_.prompt_tokens += n;
        chunks.push_back({s, n, q->n_past(), want ? 1u : 0u});
        tokens.insert(tokens.end(), q->pass_tokens(), q->pass_tokens() + n);
        f.members.push_back({q->id(), n});
        f.wants.push_back(want);
        budget -= n;
    }
    f.logits.resize(uint64(std::count(f.wants.begin(), f.wants.end(), true)) * n_vocab_);
    flights_.push_back(std::move(f));  // its logits buffer stays put until collected
    group_busy_[group] = true;
    stats_.micro_batches++;
    stats_.peak_sequences = std::max(stats_.peak_sequences, uint32(chunks.size()));
    VKS_TRY(stage_.submit(chunks, tokens.data(), flights_.back().logits.data()));
    stats_.peak_in_flight = std::max(stats_.peak_in_flight, uint32(flights_.size()));
    return {};
}

// The oldest micro-batch's logits rows: its sequences sample (those ended meanwhile skip).
ExpectedVoid PipelineScheduler::collect() {
    VKS_TRY(stage_.collect());
    const Flight f = std::move(flights_.front());
    flights_.pop_front();
    group_busy_[f.group] = false;
    uint64 row = 0;
    for (size_t i = 0; i < f.members.size(); ++i) {
        const auto [id, n] = f.members[i];
        const float* src = f.wants[i] ? f.logits.data() + (row++) * n_vocab_ : nullptr;
        Sequence* q = get(id);
        if (!q || q->finished()) continue;  // cancelled or released while in flight
        if (src) std::copy(src, src + n_vocab_, q->chunk_logits(n));
        const uint32 before = q->n_generated();
        q->computed(n);
        stats_.generated_tokens += q->n_generated() - before;
        if (q->finished()) free_slot_of(id);
    }
    return {};
}

Expected<bool> PipelineScheduler::step() {
    admit();
    for (uint32 g = 0; g < groups(); ++g)
        if (!group_busy_[g]) VKS_TRY(launch(g));
    if (flights_.empty()) return false;
    VKS_TRY(collect());
    admit();
    return true;
}

ExpectedVoid PipelineScheduler::drain() {
    while (!flights_.empty()) VKS_TRY(collect());
    return {};
}

void PipelineScheduler::free_slot_of(uint64 id) { std::replace(slots_.begin(), slots_.end(), id, uint64(0)); }

void PipelineScheduler::cancel(uint64 id) {
    Sequence* q = get(id);
    if (!q || q->finished()) return;
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
    q->finish(FinishReason::Cancelled);
    free_slot_of(id);  // a micro-batch in flight with it ignores it when collected
}

void PipelineScheduler::release(uint64 id) {
    cancel(id);
    seqs_.erase(id);
}

GenerationStatus PipelineScheduler::status(uint64 id) const {
    const Sequence* q = get(id);
    return q ? q->status() : GenerationStatus{};
}

}  // namespace vk_symbiote::pipeline
