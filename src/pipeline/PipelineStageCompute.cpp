// PipelineStage's compute of one micro-batch on this rank: the embedding rows (rank 0), its
// layers and (last rank) the head, on the exact CPU path or on its device. x_ holds the rows of
// the micro-batch's chunks in order: (rows, n_embd) f32.
#include <algorithm>

#include "pipeline/PipelineStage.h"

namespace vk_symbiote::pipeline {

namespace {

uint32 rows_of(const StepHeader& h) {
    uint32 rows = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) rows += h.chunks[i].n;
    return rows;
}

}  // namespace

// Rank 0: checks the tokens; the CPU path embeds them into x_ (a device pass embeds its own).
ExpectedVoid PipelineStage::embed(const StepHeader& h, const uint32* tokens) {
    const ModelConfig& mc = model_->config();
    const uint32 rows = rows_of(h);
    for (uint32 t = 0; t < rows; ++t) {
        if (tokens[t] >= mc.n_vocab)
            return make_error(ErrorCode::InvalidArgument, "pipeline: token " + std::to_string(tokens[t]) + " is out of range (n_vocab " + std::to_string(mc.n_vocab) + ")");
        if (device_) continue;
        float* row = x_.data() + uint64(t) * mc.n_embd;
        VKS_TRY(provider_->embedding_row(tokens[t], row));
        if (mc.embd_scale != 1.0f)
            for (uint32 i = 0; i < mc.n_embd; ++i) row[i] *= mc.embd_scale;
    }
    return {};
}

// Layer by layer over every chunk (each attends to its own slot's cache), then the head's
// wanted rows: (wanted rows, n_vocab) into `logits`.
ExpectedVoid PipelineStage::cpu_pass(const StepHeader& h, const std::vector<SeqChunk>& chunks, float* logits) {
    for (uint32 l = assign_.layers.first; l < assign_.layers.end; ++l) VKS_TRY(backend_->forward_layer_batch(l, x_.data(), chunks));
    if (!is_last()) return {};
    const uint64 E = model_->config().n_embd, V = model_->config().n_vocab;
    uint64 row = 0, out = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) {
        const StageChunk& c = h.chunks[i];
        const uint32 first = c.want == 2 ? 0 : c.n - 1;
        if (c.want)
            for (uint32 t = first; t < c.n; ++t, ++out) VKS_TRY(backend_->output_part(x_.data() + (row + t) * E, V, logits + out * V));
        row += c.n;
    }
    return {};
}

// One batched pass of device_ over view_ (the device's pool holds the slots): a rank before
// the last hands back every row's residual (its "logits", into y_, then x_); the last rank
// the wanted logits rows.
ExpectedVoid PipelineStage::device_pass(const StepHeader& h, std::vector<SeqChunk> chunks, float* logits) {
    const uint64 E = model_->config().n_embd, V = model_->config().n_vocab;
    if (link_.rank() != 0) view_->set_input(x_.data(), rows_of(h));
    uint64 row = 0, out = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) {
        const StageChunk& c = h.chunks[i];
        SeqChunk& s = chunks[i];
        s.all_logits = !is_last() || c.want == 2;
        s.logits = !is_last() ? y_.data() + row * E : c.want ? logits + out * V : nullptr;
        out += c.want == 0 ? 0 : c.want == 1 ? 1 : c.n;
        row += c.n;
    }
    VKS_TRY(device_->forward_batch(chunks));
    if (!is_last()) std::swap(x_, y_);  // the residual rows go on from x_
    return {};
}

// One sequence on a device without a KV pool (--parallel 1): its own cache, started over at
// position 0 (a perplexity chunk; a sliding-window ring cannot step back).
ExpectedVoid PipelineStage::device_pass_own(const StepHeader& h, const uint32* tokens, float* logits) {
    if (h.n_chunks != 1 || h.chunks[0].slot != 0)
        return make_error(ErrorCode::InvalidArgument, "pipeline: " + link_.who(link_.rank()) + ": one sequence at a time on this device (--parallel 1)");
    const StageChunk& c = h.chunks[0];
    if (c.pos == 0) device_->reset();
    if (link_.rank() != 0) view_->set_input(x_.data(), c.n);
    ForwardRequest r{link_.rank() == 0 ? tokens : ids_.data(), c.n, c.pos, true, y_.data()};
    if (is_last()) {
        r.all_logits = c.want == 2;
        r.logits = c.want ? logits : logits_.data();  // want 0: the pass's last row is dropped
    }
    VKS_TRY(device_->forward(r));
    if (!is_last()) std::swap(x_, y_);
    return {};
}

}  // namespace vk_symbiote::pipeline
