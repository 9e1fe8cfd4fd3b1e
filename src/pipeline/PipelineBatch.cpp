#include "pipeline/PipelineBatch.h"

#include <algorithm>
#include <deque>

#include "runtime/Sampler.h"

namespace vk_symbiote::pipeline {

namespace {

// One micro-batch in flight: the sequences whose logits rows come back, in row order.
struct Flight {
    uint32 group = 0;
    std::vector<uint32> sampled;
    std::vector<float> logits;  // (sampled, n_vocab)
};

class BatchDriver {
public:
    BatchDriver(PipelineStage& stage, std::vector<BatchSequence>& seqs, uint32 max_tokens)
        : stage_(stage), seqs_(seqs), max_tokens_(max_tokens), fed_(seqs.size(), 0) {
        const uint32 groups = std::min<uint32>(uint32(seqs.size()), stage.link().size());
        members_.resize(groups);
        for (uint32 s = 0; s < seqs.size(); ++s) members_[s % groups].push_back(s);
    }

    ExpectedVoid run() {
        for (uint32 g = 0; g < members_.size(); ++g) VKS_TRY(launch(g));
        while (!flights_.empty()) {
            VKS_TRY(stage_.collect());
            const uint32 V = stage_.model().config().n_vocab;
            Flight& f = flights_.front();
            for (size_t i = 0; i < f.sampled.size(); ++i) seqs_[f.sampled[i]].tokens.push_back(Sampler::argmax(f.logits.data() + i * V, V));
            const uint32 g = f.group;
            flights_.pop_front();
            VKS_TRY(launch(g));
        }
        return {};
    }

private:
    bool done(uint32 s) const { return fed_[s] == seqs_[s].prompt.size() && seqs_[s].tokens.size() >= max_tokens_; }

    // The group's next step: each unfinished sequence's next prompt piece, or its last token.
    ExpectedVoid launch(uint32 g) {
        std::vector<uint32> live;
        for (uint32 s : members_[g])
            if (!done(s)) live.push_back(s);
        if (live.empty()) return {};
        const uint32 cap = std::max<uint32>(1, stage_.n_batch() / uint32(live.size()));
        std::vector<StageChunk> chunks;
        std::vector<uint32> tokens;  // the chunks' tokens in order
        Flight f;
        f.group = g;
        for (uint32 s : live) {
            const BatchSequence& q = seqs_[s];
            StageChunk c{s, 1, 0, 1};
            if (fed_[s] < q.prompt.size()) {
                c.n = std::min<uint32>(cap, uint32(q.prompt.size() - fed_[s]));
                c.pos = fed_[s];
                tokens.insert(tokens.end(), q.prompt.begin() + c.pos, q.prompt.begin() + c.pos + c.n);
                fed_[s] += c.n;
                c.want = fed_[s] == q.prompt.size() && max_tokens_ > 0 ? 1 : 0;
            } else {
                c.pos = uint32(q.prompt.size() + q.tokens.size() - 1);
                tokens.push_back(q.tokens.back());
            }
            chunks.push_back(c);
            if (c.want) f.sampled.push_back(s);
        }
        f.logits.resize(f.sampled.size() * stage_.model().config().n_vocab);
        flights_.push_back(std::move(f));  // its logits buffer stays put until collected
        return stage_.submit(chunks, tokens.data(), flights_.back().logits.data());
    }

    PipelineStage& stage_;
    std::vector<BatchSequence>& seqs_;
    const uint32 max_tokens_;
    std::vector<size_t> fed_;                    // (sequences) prompt tokens sent
    std::vector<std::vector<uint32>> members_;   // (micro-batches) their sequences
    std::deque<Flight> flights_;                 // in submit order
};

}  // namespace

ExpectedVoid pipeline_generate_batch(PipelineStage& stage, std::vector<BatchSequence>& seqs, uint32 max_tokens) {
    if (seqs.empty() || seqs.size() > stage.n_slots())
        return make_error(ErrorCode::InvalidArgument, "pipeline: " + std::to_string(seqs.size()) + " sequences for " + std::to_string(stage.n_slots()) +
                                                          " slots (--parallel)");
    for (const BatchSequence& q : seqs)
        if (q.prompt.empty() || q.prompt.size() + max_tokens > stage.n_ctx())
            return make_error(ErrorCode::InvalidArgument, "pipeline: a prompt of " + std::to_string(q.prompt.size()) + " tokens and " + std::to_string(max_tokens) +
                                                              " more exceed the context of " + std::to_string(stage.n_ctx()) + " (--ctx-size)");
    return BatchDriver(stage, seqs, max_tokens).run();
}

}  // namespace vk_symbiote::pipeline
