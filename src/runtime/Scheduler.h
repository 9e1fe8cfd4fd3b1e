// Scheduler: many sequences on one weight stream. Each step is one forward pass over every
// running sequence (continuous batching: decode tokens first, one per sequence, then prompt
// chunks in arrival order, up to step_tokens in all); sequences join between steps when the
// KV cache can hold them and leave when they finish.
//
// KV cache admission (batched backends, KvBlockPool): a sequence starts only when the pool
// can hold every sequence at its worst case (KvLayout::blocks_for(max_positions())) plus
// the kept caches nobody running shares; until then it waits, first come first served. A
// step therefore never runs out of blocks. When nothing runs and the first waiting sequence
// still does not fit, kept caches are dropped, oldest first.
//
// Speculative decoding (SequenceRequest::draft): a decoding sequence may draft k tokens
// (NgramDraft); its part of the pass is then the last token and the draft, 1 + k rows with
// logits for each, and after the pass the KV positions of rejected drafted tokens are rolled
// back (KvBlockPool::truncate, or Session::rewind on the serial path). The draft length adapts
// to the sequence's acceptance and the measured cost of decode passes (PassCost).
//
// A backend without a batched pass (no kv_pool(): Vulkan for now) runs one sequence at a
// time, start to end, through a Session on the backend's own cache; prefix_from still reuses
// the cache when the source was the last sequence run.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/Backend.h"
#include "runtime/Sequence.h"
#include "runtime/Session.h"

namespace vk_symbiote {

// What one step computed.
struct StepStats {
    uint32 sequences = 0;      // sequences in the pass (0: nothing ran)
    uint32 prompt_tokens = 0;  // prompt positions computed
    uint32 decode_tokens = 0;  // generated tokens fed back
    uint32 generated = 0;      // tokens sampled (and kept) by this step
    uint32 drafted = 0;        // drafted tokens the pass verified (part of decode_tokens)
    uint32 accepted = 0;       // of those, accepted
    uint32 verifying = 0;      // sequences whose part of the pass verified a draft
    uint64 draft_ns = 0;       // time spent drafting for this pass
    uint64 pass_ns = 0;        // time of the forward pass
};

class Scheduler {
public:
    // step_tokens: the most tokens one pass computes (at most the backend's n_batch).
    Scheduler(Backend& backend, const Tokenizer& tok, uint32 n_vocab, uint32 step_tokens);

    bool batched() const { return pool_ != nullptr; }
    // The most positions one sequence may hold: n_ctx, and the pool's size when batched.
    uint32 context_limit() const;
    std::string describe() const;  // one line for logs and --stats

    // Queues a sequence (and admits it at once when it fits). Errors: an empty prompt, one
    // longer than context_limit(), or an unknown prefix_from.
    Expected<uint64> submit(SequenceRequest req);
    // One forward pass over the running sequences, then their next tokens. A failed pass
    // finishes its sequences with
    // FinishReason::Error and returns the error.
    Expected<StepStats> step();
    bool has_work() const { return !waiting_.empty() || !running_.empty(); }
    void cancel(uint64 id);
    void release(uint64 id);
    GenerationStatus status(uint64 id) const;
    const Sequence* find(uint64 id) const;
    std::vector<float> take_logits(uint64 id);  // an all_logits sequence's logits
    uint32 peak_sequences_per_pass() const { return peak_per_pass_; }
    // Called after each successful forward pass, before its sequences sample (so that a
    // token callback sees the pass accounted); StepStats::generated is 0 there.
    void set_pass_observer(std::function<void(const StepStats&)> f) { on_pass_ = std::move(f); }

private:
    struct Planned {
        Sequence* seq;
        uint32 n;  // tokens this pass computes
    };

    Sequence* get(uint64 id) const;
    // Moves waiting sequences to running while they fit (FIFO).
    void admit();
    bool try_admit(Sequence& s);
    bool try_admit_serial(Sequence& s);
    // Positions of s's prompt the source's cache holds (0 without a usable source).
    uint32 shared_prefix(const Sequence& s, const Sequence*& source) const;
    // Blocks the pool must keep for the running sequences and the kept caches, if s starts
    // sharing `shared` blocks (and its source's cache is released when asked).
    uint64 committed_blocks(const Sequence& s, const Sequence* source, uint32 shared_positions) const;
    // Drops the oldest kept cache, `spare` only when no other is left; false: none was kept.
    bool drop_kept_cache(const Sequence* spare);
    std::vector<Planned> plan();
    // The forward pass of a plan (logits at each sequence's chunk_logits).
    ExpectedVoid run_batched(const std::vector<Planned>& p);
    ExpectedVoid run_serial(const std::vector<Planned>& p);
    // Drafts for the decoding sequences of a plan (their n grows by the draft) within the
    // step's token budget; the time spent goes to st.
    void draft(std::vector<Planned>& p, StepStats& st);
    // KV positions a sequence's pass wrote past what its verification kept are dropped.
    void roll_back(Sequence& s);
    // A finished sequence leaves the running set; its blocks go back unless it keeps them.
    void retire(Sequence& s);
    void drop_kv(Sequence& s);

    Backend& backend_;
    const Tokenizer& tok_;
    KvBlockPool* pool_;  // nullptr: one sequence at a time
    uint32 n_vocab_;
    uint32 step_tokens_;
    std::unique_ptr<Session> session_;  // the serial path's sequence
    uint64 serial_owner_ = 0;           // the sequence whose positions the serial session holds (0: none)
    std::map<uint64, std::unique_ptr<Sequence>> seqs_;
    std::deque<uint64> waiting_;
    std::vector<uint64> running_;       // in admission order
    uint64 next_id_ = 1;
    uint32 rotate_ = 0;                 // first decode sequence of the next step (fairness past the budget)
    uint32 peak_per_pass_ = 0;
    PassCost pass_cost_;                // decode passes' time against their rows (draft lengths)
    std::function<void(const StepStats&)> on_pass_;
};

}  // namespace vk_symbiote
