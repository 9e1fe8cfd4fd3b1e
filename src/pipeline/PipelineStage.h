// PipelineStage: one rank's part of a pipeline over several processes (mpirun ... --pipeline):
// layers [first, end) of the model (StageHandshake chose them), the embedding on rank 0, the
// output norm and head on the last rank. Its weights come from its own WeightProvider under its
// own RAM budget (whole tensors in RAM, or packs when they do not fit: the oracle places them
// as in one process) and are computed where one process would compute them: on its Vulkan
// device (StageDevice: a VulkanBackend over a LayerRangeProvider of its layers, resident,
// streamed or hybrid under its own VRAM budget), else by the exact CPU backend, one layer at
// a time (CpuBackend::forward_layer, output_part).
//
// One forward step (a micro-batch: chunks of one or more sequences): rank 0 embeds the tokens
// -> x (n, n_embd) f32, runs its layers and sends a Step header and x to rank 1; each rank runs
// its layers and sends x on; the last rank computes the logits rows asked for and sends them to
// rank 0, which samples (the tokenizer and the sampler live on rank 0 only). Only activations
// and logits cross, never weights. Rank 0 may submit the next micro-batch before the last one's
// logits are back (PipelineBatch): each rank then works on one while the others work on others.
// Every rank keeps one KV block table per sequence slot (--parallel slots) in its backend's pool.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/CpuBackend.h"
#include "memory/LayerRangeProvider.h"
#include "memory/WeightProvider.h"
#include "model/LoadedModel.h"
#include "pipeline/PipelineLink.h"
#include "pipeline/StageHandshake.h"

namespace vk_symbiote {
class ConfigManager;
}

namespace vk_symbiote::pipeline {

// What one rank did since open (the benchmark's per-rank report).
// One sequence's part of a micro-batch: n tokens of sequence slot `slot` (0 .. --parallel - 1)
// at positions [pos, pos + n); pos 0 starts the slot's sequence over. want: the logits rows,
// 0 none, 1 the last row, 2 every row.
struct StageChunk {
    uint32 slot = 0;
    uint32 n = 0;
    uint32 pos = 0;
    uint32 want = 0;
};
constexpr uint32 kMaxStageChunks = 64;  // sequences in one micro-batch

// The Step message (rank r -> r + 1): a micro-batch, or the stop (kind 0).
struct StepHeader {
    uint32 kind = 0;  // 0 stop, 1 forward, 2 idle (nothing to compute: keeps the receives' deadlines)
    uint32 n_chunks = 0;
    StageChunk chunks[kMaxStageChunks];
};

struct StageStats {
    uint64 steps = 0;          // forward steps through this rank
    uint64 tokens = 0;         // token rows through this rank
    uint64 compute_ns = 0;     // embedding, layers and head on this rank
    LinkStats link;            // time waiting in send / receive, bytes moved
    ProviderStats weights;     // this rank's weight reads (disk -> RAM)
    uint64 uploaded_bytes = 0; // weight bytes its device took from the host (RAM -> VRAM; 0 on the CPU path)
    uint64 weight_bytes = 0;   // bytes of the weights this rank holds (its layers, its ends)
};

class PipelineStage {
public:
    // Opens the model (the tokenizer on rank 0 only), runs the handshake and places this
    // rank's weights. `cfg`: this process's options (rank 0's --budgets decide for all).
    static Expected<std::unique_ptr<PipelineStage>> open(PipelineLink& link, const ConfigManager& cfg, const Path& model_path);

    // Rank 0: logits of tokens[0, n) at positions [pos, pos + n) (positions [0, pos) already
    // went through): all ? n rows : the last row, n_vocab floats each. Chunks of n_batch.
    ExpectedVoid forward(const uint32* tokens, uint32 n, uint32 pos, bool all, float* logits);
    // Rank 0, micro-batches: embeds `tokens` (the chunks' tokens in order, at most n_batch in
    // all), runs this rank's layers and sends the micro-batch on. Its wanted logits rows
    // (chunks in order, (rows, n_vocab)) are in `logits` when collect() has returned for it;
    // micro-batches are collected in submit order, and `logits` must stay until then.
    ExpectedVoid submit(const std::vector<StageChunk>& chunks, const uint32* tokens, float* logits);
    ExpectedVoid collect();
    uint32 in_flight() const { return uint32(in_flight_.size()); }
    uint32 n_slots() const { return uint32(tables_.size()); }
    uint32 n_batch() const { return n_batch_; }
    // Rank 0: ends the other ranks' serve() (call once, at the end).
    ExpectedVoid finish();
    // Rank 0, with nothing in flight: an idle message down the chain, so that the other ranks,
    // waiting for a step, do not time out while rank 0 has none (an idle server; call it more
    // often than --pipeline-timeout).
    ExpectedVoid keepalive();
    // Ranks > 0: runs steps until rank 0's finish().
    ExpectedVoid serve();

    PipelineLink& link() { return link_; }
    const LoadedModel& model() const { return *model_; }
    const StageAssignment& assignment() const { return assign_; }
    uint32 n_ctx() const { return n_ctx_; }
    // "rank 1 (host h): layers [2, 5) + head, weights resident in RAM (...)".
    std::string describe() const;
    StageStats stats();  // non-const: a device reads its counters through non-const accessors
    // From the start of the first step to the end of the last on this rank, ns.
    uint64 span_ns() const { return last_end_ns_ > first_start_ns_ ? last_end_ns_ - first_start_ns_ : 0; }

private:
    explicit PipelineStage(PipelineLink& link) : link_(link) {}
    // The weight provider and backend of this rank's layers, under its budgets.
    ExpectedVoid place(const ConfigManager& cfg);
    // The device path (view_ and device_; left empty when the device cannot run the layers) or
    // the CPU path (backend_).
    ExpectedVoid place_device(std::unique_ptr<Backend> device, const ConfigManager& cfg);
    ExpectedVoid place_cpu(const ConfigManager& cfg);
    // A barrier after place(): every rank > 0 tells rank 0 that its weights are placed and waits
    // until all are, so that no first step times out behind a rank still loading, and the
    // steps' timings (the bubble) start together. Loading may take long: the wait is the
    // timeout plus kReadySlackS; a rank that dies meanwhile ends the job through mpirun.
    ExpectedVoid ready();
    static constexpr double kReadySlackS = 3600;
    // x_ holds the micro-batch's rows (its chunks in order): this rank's layers, then either the
    // next rank gets them, or (last rank) the wanted logits rows go to `logits` (rank 0) or to
    // rank 0 (another rank). tokens: rank 0's ids, which the device path embeds (the CPU path
    // has x_ embedded already). Rank 0 posts the receive of the logits before it sends.
    ExpectedVoid step(const StepHeader& h, const uint32* tokens, float* logits);
    // Checks a micro-batch (rank 0's, or one received) against the slots, context and batch.
    ExpectedVoid check_step(const StepHeader& h) const;
    // The chunks' block tables writable for their positions (a slot at pos 0 starts over).
    Expected<std::vector<SeqChunk>> claim_kv(const StepHeader& h, const uint32* tokens);
    // PipelineStageCompute.cpp: this rank's layers (and the head on the last rank) over x_.
    ExpectedVoid cpu_pass(const StepHeader& h, const std::vector<SeqChunk>& chunks, float* logits);
    ExpectedVoid device_pass(const StepHeader& h, std::vector<SeqChunk> chunks, float* logits);
    // One pass of device_ without a KV pool (one sequence, --parallel 1): its own cache.
    ExpectedVoid device_pass_own(const StepHeader& h, const uint32* tokens, float* logits);
    ExpectedVoid embed(const StepHeader& h, const uint32* tokens);
    // Tests (--pipeline-exit-after / --pipeline-stall-after): rank 1 fails before a step.
    void fail_for_tests() const;
    bool is_last() const { return link_.rank() + 1 == link_.size(); }

    PipelineLink& link_;
    std::shared_ptr<const LoadedModel> model_;
    StageAssignment assign_;
    std::unique_ptr<WeightProvider> provider_;
    std::unique_ptr<LayerRangeProvider> view_;  // the device path: this rank's layers as a model, over provider_
    std::unique_ptr<CpuBackend> backend_;  // the CPU path; reads provider_: destroyed first
    std::unique_ptr<Backend> device_;      // the device path over view_ (destroyed before it), or nullptr
    std::string how_;                      // where the weights come from (one line)
    std::string compute_;                  // where the layers are computed (one line)
    uint32 n_ctx_ = 0, n_batch_ = 0;
    uint32 exit_after_ = 0;                // tests: rank 1 exits after this many steps
    uint32 stall_after_ = 0;               // tests: rank 1 stops answering after this many steps
    std::vector<float> x_;                 // (n_batch, n_embd) activations of one step
    std::vector<float> y_;                 // (n_batch, n_embd) the device pass's output rows
    std::vector<uint32> ids_;              // (n_batch) 0, 1, ...: a later rank's "tokens", rows of x_
    std::vector<KvBlockTable> tables_;     // (slots) each sequence slot's blocks in the backend's pool
    std::deque<uint64> in_flight_;         // rank 0: submitted micro-batches' posted logits receives (0: none)
    std::vector<float> logits_;            // (n_batch, n_vocab) the last rank's rows for rank 0
    StageStats stats_;
    uint64 first_start_ns_ = 0, last_end_ns_ = 0;  // steady clock
    LinkStats link_base_;                  // the link's counters after ready(): the reports count the steps' traffic
};

}  // namespace vk_symbiote::pipeline
