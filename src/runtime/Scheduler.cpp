#include "runtime/Scheduler.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

namespace vk_symbiote {

namespace {
using Clock = std::chrono::steady_clock;
uint64 ns_since(Clock::time_point t) { return uint64(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count()); }
}  // namespace

Scheduler::Scheduler(Backend& backend, const Tokenizer& tok, uint32 n_vocab, uint32 step_tokens)
    : backend_(backend), tok_(tok), pool_(backend.kv_pool()), n_vocab_(n_vocab), step_tokens_(std::max(1u, step_tokens)) {
    if (!pool_) session_ = std::make_unique<Session>(backend, n_vocab, step_tokens_);
}

uint32 Scheduler::context_limit() const {
    if (!pool_) return backend_.n_ctx();
    return uint32(std::min<uint64>(backend_.n_ctx(), pool_->layout().positions()));
}

std::string Scheduler::describe() const {
    if (!pool_) return "one sequence at a time (" + backend_.name() + " has no batched pass over several sequences)";
    const KvLayout& l = pool_->layout();
    return "batched: every running sequence in each pass, up to " + std::to_string(step_tokens_) + " tokens; KV cache " + std::to_string(l.n_blocks) +
           " blocks of " + std::to_string(l.block_positions) + " positions (" + std::to_string(pool_->storage_bytes() >> 20) + " MiB)";
}

Sequence* Scheduler::get(uint64 id) const {
    auto it = seqs_.find(id);
    return it == seqs_.end() ? nullptr : it->second.get();
}

const Sequence* Scheduler::find(uint64 id) const { return get(id); }

Expected<uint64> Scheduler::submit(SequenceRequest req) {
    if (req.prompt.empty()) return make_error(ErrorCode::InvalidArgument, "generation: empty prompt (no tokens)");
    for (size_t i = 0; i < req.prompt.size(); ++i)
        if (req.prompt[i] >= n_vocab_)
            return make_error(ErrorCode::InvalidArgument, "generation: prompt token " + std::to_string(req.prompt[i]) + " at index " + std::to_string(i) +
                                                              " is outside the vocabulary (" + std::to_string(n_vocab_) + ")");
    if (req.prompt.size() > context_limit())
        return make_error(ErrorCode::InvalidArgument, "context full: a prompt of " + std::to_string(req.prompt.size()) + " tokens exceeds the context of " +
                                                          std::to_string(context_limit()) + " positions (raise --ctx-size" +
                                                          (pool_ ? std::string(" or --kv-pool-tokens)") : std::string(")")));
    if (req.prefix_from && !get(*req.prefix_from))
        return make_error(ErrorCode::InvalidArgument, "prefix_from: no generation " + std::to_string(*req.prefix_from) + " (never submitted, or released)");
    const uint64 id = next_id_++;
    seqs_[id] = std::make_unique<Sequence>(id, std::move(req), tok_, n_vocab_, context_limit());
    waiting_.push_back(id);
    admit();
    return id;
}

void Scheduler::admit() {
    while (!waiting_.empty()) {
        Sequence& s = *get(waiting_.front());
        if (!(pool_ ? try_admit(s) : try_admit_serial(s))) return;
        waiting_.pop_front();
        running_.push_back(s.id());
    }
}

uint32 Scheduler::shared_prefix(const Sequence& s, const Sequence*& source) const {
    source = s.request().prefix_from ? get(*s.request().prefix_from) : nullptr;
    if (!source || source == &s) return 0;
    const uint32 valid = pool_ ? source->kv().n_pos : (serial_owner_ == source->id() ? source->n_past() : 0);
    const std::vector<uint32>& a = source->tokens();
    const std::vector<uint32>& b = s.request().prompt;
    // At most prompt - 1: the last prompt token is computed again for its logits.
    const uint32 most = std::min<uint32>(valid, uint32(b.size()) - 1);
    uint32 n = 0;
    while (n < most && a[n] == b[n]) ++n;
    return n;
}

uint64 Scheduler::committed_blocks(const Sequence& s, const Sequence* source, uint32 shared_positions) const {
    const KvLayout& l = pool_->layout();
    uint64 committed = l.blocks_for(s.max_positions());
    std::unordered_set<uint32> covered;  // blocks inside some running sequence's reservation
    for (uint64 id : running_) {
        const Sequence& r = *get(id);
        committed += l.blocks_for(r.max_positions());
        covered.insert(r.kv().blocks.begin(), r.kv().blocks.end());
    }
    if (source) covered.insert(source->kv().blocks.begin(), source->kv().blocks.begin() + l.blocks_for(shared_positions));
    for (const auto& [id, k] : seqs_) {
        if (!k->finished() || !k->has_kv()) continue;
        if (k.get() == source && s.request().release_prefix_source) continue;
        for (uint32 b : k->kv().blocks)
            if (covered.insert(b).second) ++committed;  // a kept block no reservation covers
    }
    return committed;
}

bool Scheduler::try_admit(Sequence& s) {
    const Sequence* source = nullptr;
    uint32 shared = shared_prefix(s, source);
    while (committed_blocks(s, source, shared) > pool_->n_blocks()) {
        // Wait for running sequences to finish; with none, make room from the kept caches.
        if (!running_.empty() || !drop_kept_cache(source)) return false;
        shared = shared_prefix(s, source);
    }
    if (shared > 0) s.kv() = pool_->share_prefix(source->kv(), shared);
    if (source && source->finished() && s.request().release_prefix_source) drop_kv(*get(source->id()));
    s.start(shared);
    return true;
}

bool Scheduler::drop_kept_cache(const Sequence* spare) {
    Sequence* victim = nullptr;
    for (auto& [id, k] : seqs_)  // ids grow with submission: the oldest first
        if (k->finished() && k->has_kv() && (!victim || victim == spare)) victim = k.get();
    if (!victim) return false;
    drop_kv(*victim);
    return true;
}

bool Scheduler::try_admit_serial(Sequence& s) {
    if (!running_.empty()) return false;
    const Sequence* source = nullptr;
    const uint32 shared = shared_prefix(s, source);
    if (shared > 0) {
        session_->rewind(shared);
    } else {
        session_->reset();
    }
    serial_owner_ = s.id();
    s.start(shared);
    return true;
}

std::vector<Scheduler::Planned> Scheduler::plan() {
    std::vector<Planned> p;
    uint32 budget = step_tokens_;
    std::vector<Sequence*> decoding, prompting;
    for (uint64 id : running_) (get(id)->in_prompt() ? prompting : decoding).push_back(get(id));
    // Decode tokens first, one per sequence; past the budget the next step starts further on.
    for (size_t i = 0; i < decoding.size() && budget > 0; ++i, --budget) p.push_back({decoding[(rotate_ + i) % decoding.size()], 1});
    if (!decoding.empty()) rotate_ = uint32((rotate_ + p.size()) % decoding.size());
    for (Sequence* s : prompting) {
        if (budget == 0) break;
        const uint32 n = std::min(budget, s->pending());
        p.push_back({s, n});
        budget -= n;
    }
    return p;
}

void Scheduler::draft(std::vector<Planned>& p, StepStats& st) {
    const Clock::time_point t0 = Clock::now();
    uint32 room = step_tokens_;
    for (const Planned& x : p) room -= x.n;
    for (Planned& x : p) {
        if (room == 0) break;
        if (x.seq->in_prompt()) continue;
        const uint32 k = x.seq->draft(room, pass_cost_);
        x.n += k;
        room -= k;
        st.drafted += k;
        st.verifying += k > 0 ? 1 : 0;
    }
    st.draft_ns = ns_since(t0);
    pass_cost_.record_draft(st.drafted, double(st.draft_ns) * 1e-9);
}

Expected<StepStats> Scheduler::step() {
    admit();
    StepStats st;
    std::vector<Planned> p = plan();
    if (p.empty()) return st;
    draft(p, st);
    for (const Planned& x : p) (x.seq->in_prompt() ? st.prompt_tokens : st.decode_tokens) += x.n;
    uint32 generated_before = 0;
    uint64 accepted_before = 0;
    for (const Planned& x : p) {
        generated_before += x.seq->n_generated();
        accepted_before += x.seq->accepted_tokens();
    }
    const Clock::time_point t0 = Clock::now();
    auto r = pool_ ? run_batched(p) : run_serial(p);
    st.pass_ns = ns_since(t0);
    if (r && st.prompt_tokens == 0) pass_cost_.record(st.decode_tokens, double(st.pass_ns) * 1e-9);
    st.sequences = uint32(p.size());
    peak_per_pass_ = std::max(peak_per_pass_, st.sequences);
    if (r && on_pass_) on_pass_(st);
    for (const Planned& x : p) {
        if (r) x.seq->computed(x.n);
        roll_back(*x.seq);
        st.generated += x.seq->n_generated();
        st.accepted += uint32(x.seq->accepted_tokens());
        if (!r) x.seq->finish(FinishReason::Error, r.error().message);
        if (x.seq->finished()) retire(*x.seq);
    }
    st.generated -= generated_before;
    st.accepted -= uint32(accepted_before);
    if (!r) return r.error();
    admit();
    return st;
}

void Scheduler::roll_back(Sequence& s) {
    if (pool_) {
        if (s.kv().n_pos > s.n_past()) pool_->truncate(s.kv(), s.n_past());
    } else if (serial_owner_ == s.id() && session_->pos() > s.n_past()) {
        session_->rewind(s.n_past());
    }
}

ExpectedVoid Scheduler::run_batched(const std::vector<Planned>& p) {
    std::vector<SeqChunk> chunks;
    for (const Planned& x : p) {
        Sequence& s = *x.seq;
        VKS_TRY(pool_->prepare_write(s.kv(), s.n_past(), s.n_past() + x.n));  // admission keeps room for it
        chunks.push_back({&s.kv(), s.pass_tokens(), x.n, s.n_past(), s.pass_all_logits(), s.chunk_logits(x.n)});
    }
    return backend_.forward_batch(chunks);
}

ExpectedVoid Scheduler::run_serial(const std::vector<Planned>& p) {
    Sequence& s = *p.at(0).seq;
    const uint32 n = p[0].n;
    const std::vector<uint32> toks(s.pass_tokens(), s.pass_tokens() + n);
    float* dst = s.chunk_logits(n);
    auto logits = session_->eval(toks, s.pass_all_logits());
    if (!logits) return logits.error();
    if (dst) std::copy(logits->begin(), logits->end(), dst);
    return {};
}

void Scheduler::retire(Sequence& s) {
    running_.erase(std::remove(running_.begin(), running_.end(), s.id()), running_.end());
    if (!s.request().keep_kv || s.finish_reason() == FinishReason::Error) drop_kv(s);
}

void Scheduler::drop_kv(Sequence& s) {
    if (pool_) pool_->release(s.kv());
    s.kv() = KvBlockTable{};
    if (serial_owner_ == s.id() && s.finished()) serial_owner_ = 0;
}

void Scheduler::cancel(uint64 id) {
    Sequence* s = get(id);
    if (!s || s->finished()) return;
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
    s->finish(FinishReason::Cancelled);
    retire(*s);
    admit();
}

void Scheduler::release(uint64 id) {
    Sequence* s = get(id);
    if (!s) return;
    cancel(id);
    drop_kv(*s);
    seqs_.erase(id);
    admit();
}

GenerationStatus Scheduler::status(uint64 id) const {
    const Sequence* s = get(id);
    return s ? s->status() : GenerationStatus{};
}

std::vector<float> Scheduler::take_logits(uint64 id) {
    Sequence* s = get(id);
    return s ? s->take_logits() : std::vector<float>{};
}

}  // namespace vk_symbiote
