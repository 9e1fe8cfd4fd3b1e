// PipelineScheduler: rank 0's continuous batching through the stages (`serve --pipeline`).
// Requests run as Sequences (runtime/Sequence: sampler, stop strings, token callback,
// context limit: the same as in one process), each in one of the --parallel sequence slots
// every rank keeps. Slot s belongs to micro-batch s % M (M = min(slots, ranks), as
// PipelineBatch deals the benchmark's sequences). step() launches every micro-batch that is not
// in flight and has work (its running sequences' next chunks: prompt pieces of up to
// --step-tokens / its size tokens, then one token each), then collects the oldest one in flight
// and samples its sequences: while rank 1 computes one micro-batch, rank 0 computes the next,
// and requests join and leave between steps. With one request the stages work one after
// another, as `generate --pipeline` does.
//
// Not here (refused or ignored, see docs/pipeline.md): prefix_from / keep_kv (the prompt
// cache), speculative drafts, all_logits. A failed step leaves the ranks out of step with one
// another: the caller ends every rank.
//
// Thread-safety: one thread (the server's engine driver) from the first submit to drain().
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "pipeline/PipelineStage.h"
#include "runtime/Sequence.h"

namespace vk_symbiote::pipeline {

struct PipelineSchedulerStats {
    uint64 micro_batches = 0;        // launched
    uint32 peak_in_flight = 0;       // the most micro-batches in flight at once
    uint32 peak_sequences = 0;       // the most sequences one micro-batch carried
    uint64 prompt_tokens = 0;        // prompt positions computed
    uint64 generated_tokens = 0;     // tokens sampled
};

class PipelineScheduler {
public:
    explicit PipelineScheduler(PipelineStage& stage);

    // Queues a sequence; it starts when a slot is free. Errors: an empty prompt, a token outside
    // the vocabulary, a prompt longer than the context, prefix_from / all_logits (unsupported).
    Expected<uint64> submit(SequenceRequest req);
    // Launches the idle micro-batches that have work, then collects the oldest one in flight and
    // samples its sequences. false: nothing was in flight (no work).
    Expected<bool> step();
    // Collects every micro-batch still in flight (before PipelineStage::finish()).
    ExpectedVoid drain();
    bool has_work() const { return !waiting_.empty() || running() > 0; }
    void cancel(uint64 id);   // ends it at once (a micro-batch in flight with it is collected and ignored)
    void release(uint64 id);  // forgets it (cancelled first)
    GenerationStatus status(uint64 id) const;
    const PipelineSchedulerStats& stats() const { return stats_; }
    uint32 groups() const { return uint32(group_busy_.size()); }

private:
    // One micro-batch in flight: its sequences (id, tokens computed), the logits rows of those
    // that want one, in chunk order.
    struct Flight {
        uint32 group = 0;
        std::vector<std::pair<uint64, uint32>> members;
        std::vector<bool> wants;
        std::vector<float> logits;  // (wanted rows, n_vocab)
    };

    Sequence* get(uint64 id) const;
    uint32 running() const;
    void admit();
    ExpectedVoid launch(uint32 group);
    ExpectedVoid collect();
    void free_slot_of(uint64 id);

    PipelineStage& stage_;
    const uint32 n_vocab_;
    std::map<uint64, std::unique_ptr<Sequence>> seqs_;
    std::deque<uint64> waiting_;
    std::vector<uint64> slots_;       // (--parallel) the sequence in each slot, 0: free
    std::vector<bool> group_busy_;    // (micro-batches) one in flight
    std::deque<Flight> flights_;      // in submit order
    uint64 next_id_ = 1;
    PipelineSchedulerStats stats_;
};

}  // namespace vk_symbiote::pipeline
