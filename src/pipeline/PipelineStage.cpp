#include "pipeline/PipelineStage.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "config/Logger.h"
#include "pipeline/PipelineReport.h"
#include "pipeline/StageDevice.h"
#include "engine/BackendSelector.h"
#include "engine/BudgetCheck.h"
#include "engine/WeightProviderFactory.h"
#include "packs/PackWeightProvider.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::pipeline {

namespace {

// Step header (rank r -> r + 1), then n x n_embd floats of activations.
enum : uint32 { kStop = 0, kForward = 1 };
struct StepHeader {
    uint32 kind = kStop;
    uint32 n = 0;
    uint32 pos = 0;
    uint32 want = 0;  // logits rows: 0 none, 1 the last row, 2 every row
};

uint64 now_ns() {
    return uint64(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// Weight bytes a rank with `layers` holds: its layers' tensors, the head's on the last rank
// (the embedding table is read by rows, never held whole).
uint64 range_bytes(const TensorRegistry& reg, const LayerRange& layers, bool last, bool tied) {
    uint64 bytes = 0;
    for (const TensorDesc& d : reg.tensors()) {
        const bool global = d.id.layer < 0;
        if (!global && uint32(d.id.layer) >= layers.first && uint32(d.id.layer) < layers.end) bytes += d.byte_size;
        if (global && last && (d.id.role != TensorRole::TokenEmbd || tied)) bytes += d.byte_size;
    }
    return bytes;
}

// This rank's own budgets, for the plan when --budgets is not given: the CPU path holds its
// weights in RAM (VRAM counts only where given); an unset --ram-gb is this machine's.
RankBudget own_budget(const ConfigManager& cfg) {
    const MemoryConfig& m = cfg.memory();
    RankBudget b;
    b.vram_gb = vram_budget_given(m) ? m.vram_budget_gb : 0;
    b.ram_gb = m.ram_budget_gb;
    if (!ram_budget_given(m))
        if (const uint64 avail = machine_budget(available_ram_bytes(), kRamMarginFraction, kRamMinMargin)) b.ram_gb = double(avail) / MemoryConfig::kBytesPerGB;
    return b;
}

}  // namespace

Expected<std::unique_ptr<PipelineStage>> PipelineStage::open(PipelineLink& link, const ConfigManager& cfg, const Path& model_path) {
    std::unique_ptr<PipelineStage> s(new PipelineStage(link));
    auto model = LoadedModel::open(model_path, link.rank() == 0);
    if (!model) return make_error(model.error().code, "pipeline: " + link.who(link.rank()) + ": " + model.error().message);
    s->model_ = std::move(*model);
    auto a = handshake(link, *s->model_, own_budget(cfg), cfg.pipeline().budgets);
    if (!a) return a.error();
    s->assign_ = std::move(*a);
    s->exit_after_ = cfg.tuning().pipeline_exit_after;
    s->stall_after_ = cfg.tuning().pipeline_stall_after;
    VKS_TRY(s->place(cfg));
    return s;
}

ExpectedVoid PipelineStage::place(const ConfigManager& given) {
    ConfigManager cfg = given;  // this rank's budgets from the plan
    MemoryConfig& m = cfg.memory();
    m.ram_budget_gb = assign_.budget.ram_gb;
    m.ram_budget_set = true;
    if (assign_.budget.vram_gb > 0) {  // 0: not given (the device's free memory, as one process)
        m.vram_budget_gb = assign_.budget.vram_gb;
        m.vram_budget_set = true;
    }
    const ModelConfig& mc = model_->config();
    const LayerRange& l = assign_.layers;
    n_ctx_ = choose_ctx(mc, cfg.sampling());
    n_batch_ = cfg.performance().step_tokens;
    stats_.weight_bytes = range_bytes(model_->registry(), l, is_last(), mc.tied_output);
    std::string why_cpu;
    std::unique_ptr<Backend> device = open_device(cfg, why_cpu);
    // The CPU backend holds the KV cache of every layer (CpuKvStore's layout is the model's); a
    // device holds its layers' on the device, and its staging on the host.
    uint64 act_kv = estimate_activation_kv_bytes(mc, n_ctx_, n_batch_, kv_pool_tokens(cfg, n_ctx_));
    if (device) act_kv = std::max(act_kv, device_host_bytes(model_, l.first, l.count(), n_ctx_, n_batch_));
    auto source = plan_weight_source(*model_, cfg, stats_.weight_bytes, act_kv);
    if (!source) return make_error(source.error().code, "pipeline: " + link_.who(link_.rank()) + ": " + source.error().message);
    auto prov = open_weight_provider(model_, cfg, *source, how_);
    if (!prov) return prov.error();
    provider_ = std::move(*prov);
    if (device) VKS_TRY(place_device(std::move(device), cfg));
    if (!device_) VKS_TRY(place_cpu(cfg));
    x_.resize(size_t(n_batch_) * mc.n_embd);
    y_.resize(device_ ? x_.size() : 0);
    ids_.resize(device_ ? n_batch_ : 0);
    for (uint32 i = 0; i < ids_.size(); ++i) ids_[i] = i;
    if (is_last()) logits_.resize(size_t(n_batch_) * mc.n_vocab);
    return {};
}

ExpectedVoid PipelineStage::place_device(std::unique_ptr<Backend> device, const ConfigManager& cfg) {
    const LayerRange& l = assign_.layers;
    view_ = std::make_unique<LayerRangeProvider>(*provider_, l.first, l.count());
    auto ok = prepare_device(*device, *model_, cfg, *view_, n_ctx_, n_batch_);
    if (!ok) return make_error(ok.error().code, "pipeline: " + link_.who(link_.rank()) + ": " + ok.error().message);
    if (!*ok) return {};  // warned: the CPU path computes the layers
    device_ = std::move(device);
    compute_ = "computed on " + device_placement(*device_);
    return {};
}

ExpectedVoid PipelineStage::place_cpu(const ConfigManager& cfg) {
    view_.reset();
    const uint32 threads = thread_count(cfg.performance());
    backend_ = std::make_unique<CpuBackend>(threads, cpu::KernelPath::Auto, KvPrecision::F16Rounded);  // llama.cpp's f16 cache, as the engine
    backend_->set_matvec_options(cpu_prefetch_bytes(cfg.tuning(), cpu::kDefaultMatvecPrefetchBytes), cfg.tuning().cpu_batch);
    backend_->set_kv_pool_tokens(n_ctx_);  // one sequence
    VKS_TRY(backend_->prepare(*provider_, n_ctx_, n_batch_));
    compute_ = "computed on the CPU (" + std::to_string(backend_->n_threads()) + " threads)";
    return {};
}

std::string PipelineStage::describe() const {
    const LayerRange& l = assign_.layers;
    std::string s = link_.who(link_.rank()) + ": layers [" + std::to_string(l.first) + ", " + std::to_string(l.end) + ")";
    if (link_.rank() == 0) s += " + embedding";
    if (is_last()) s += " + head";
    return s + ", " + how_ + ", " + compute_;
}

StageStats PipelineStage::stats() {
    StageStats s = stats_;
    s.link = link_.stats();
    s.weights = provider_ ? provider_->stats() : ProviderStats{};
    if (device_) s.uploaded_bytes = device_->stats().weight_bytes_uploaded;
    return s;
}

ExpectedVoid PipelineStage::head(uint32 n, uint32 want, float* logits) {
    const uint64 E = model_->config().n_embd, V = model_->config().n_vocab;
    const uint32 first = want == 2 ? 0 : n - 1;
    for (uint32 t = first; t < n; ++t) VKS_TRY(backend_->output_part(x_.data() + t * E, V, logits + (t - first) * V));
    return {};
}

ExpectedVoid PipelineStage::device_pass(const uint32* tokens, uint32 n, uint32 pos, uint32 want, float* logits) {
    if (pos == 0) device_->reset();  // a new sequence (a perplexity chunk): no step back past a ring
    if (link_.rank() != 0) view_->set_input(x_.data(), n);
    ForwardRequest r{link_.rank() == 0 ? tokens : ids_.data(), n, pos, true, y_.data()};
    if (is_last()) {
        r.all_logits = want == 2;
        r.logits = want ? logits : logits_.data();  // want 0: the pass's last row is dropped
    }
    VKS_TRY(device_->forward(r));
    if (!is_last()) std::swap(x_, y_);  // the residual rows go on from x_
    return {};
}

ExpectedVoid PipelineStage::step(const uint32* tokens, uint32 n, uint32 pos, uint32 want, float* logits) {
    const uint64 t0 = now_ns();
    if (stats_.steps == 0 && link_.rank() != 0) first_start_ns_ = t0;
    const uint64 V = model_->config().n_vocab;
    const uint64 rows = want == 0 ? 0 : want == 1 ? 1 : n;
    float* out = link_.rank() == 0 ? logits : logits_.data();  // the last rank's logits rows
    if (device_) {
        VKS_TRY(device_pass(tokens, n, pos, want, out));
    } else {
        for (uint32 l = assign_.layers.first; l < assign_.layers.end; ++l) VKS_TRY(backend_->forward_layer(l, x_.data(), n, pos));
        if (is_last() && want) VKS_TRY(head(n, want, out));
    }
    stats_.steps++;
    stats_.tokens += n;
    if (is_last()) {
        stats_.compute_ns += now_ns() - t0;
        if (link_.rank() != 0 && rows) VKS_TRY(link_.send(0, Tag::Logits, out, rows * V * sizeof(float)));
        last_end_ns_ = now_ns();
        return {};
    }
    stats_.compute_ns += now_ns() - t0;
    const StepHeader h{kForward, n, pos, want};
    VKS_TRY(link_.send(link_.rank() + 1, Tag::Step, &h, sizeof h));
    VKS_TRY(link_.send(link_.rank() + 1, Tag::Activations, x_.data(), uint64(n) * model_->config().n_embd * sizeof(float)));
    // Rank 0 waits longer than the timeout (1 s more per rank between): when a rank fails, the
    // rank after it, waiting for it, names it first.
    if (link_.rank() == 0 && rows) VKS_TRY(link_.recv(link_.size() - 1, Tag::Logits, logits, rows * V * sizeof(float), double(link_.size())));
    last_end_ns_ = now_ns();
    return {};
}

ExpectedVoid PipelineStage::forward(const uint32* tokens, uint32 n, uint32 pos, bool all, float* logits) {
    if (link_.rank() != 0) return make_error(ErrorCode::Internal, "pipeline: forward() runs on rank 0 only");
    const ModelConfig& mc = model_->config();
    if (n == 0 || uint64(pos) + n > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "pipeline: positions [" + std::to_string(pos) + ", " + std::to_string(uint64(pos) + n) + ") exceed the context of " + std::to_string(n_ctx_));
    for (uint32 done = 0; done < n;) {
        const uint32 c = std::min(n - done, n_batch_);
        const uint64 t0 = now_ns();
        if (stats_.steps == 0) first_start_ns_ = t0;
        for (uint32 t = 0; t < c; ++t) {
            if (tokens[done + t] >= mc.n_vocab)
                return make_error(ErrorCode::InvalidArgument, "pipeline: token " + std::to_string(tokens[done + t]) + " is out of range (n_vocab " + std::to_string(mc.n_vocab) + ")");
            if (device_) continue;  // the device pass embeds the tokens itself
            float* row = x_.data() + uint64(t) * mc.n_embd;
            VKS_TRY(provider_->embedding_row(tokens[done + t], row));
            if (mc.embd_scale != 1.0f)
                for (uint32 i = 0; i < mc.n_embd; ++i) row[i] *= mc.embd_scale;
        }
        stats_.compute_ns += now_ns() - t0;
        const bool final_chunk = done + c == n;
        const uint32 want = all ? 2 : final_chunk ? 1 : 0;
        VKS_TRY(step(tokens + done, c, pos + done, want, all ? logits + uint64(done) * mc.n_vocab : logits));
        done += c;
    }
    return {};
}

ExpectedVoid PipelineStage::finish() {
    if (link_.rank() != 0 || link_.size() == 1) return {};
    const StepHeader h{kStop, 0, 0, 0};
    return link_.send(1, Tag::Step, &h, sizeof h);
}

void PipelineStage::fail_for_tests() const {
    if (link_.rank() != 1) return;
    if (exit_after_ && stats_.steps == exit_after_) {
        VKS_LOG_ERROR("pipeline: " << link_.who(1) << ": exiting after " << exit_after_ << " steps (--pipeline-exit-after)");
        std::_Exit(3);
    }
    if (stall_after_ && stats_.steps == stall_after_) {
        VKS_LOG_ERROR("pipeline: " << link_.who(1) << ": no longer answering after " << stall_after_ << " steps (--pipeline-stall-after)");
        while (true) std::this_thread::sleep_for(std::chrono::seconds(1));  // until MPI_Abort ends this process
    }
}

ExpectedVoid PipelineStage::serve() {
    const uint32 prev = link_.rank() - 1;
    while (true) {
        StepHeader h;
        VKS_TRY(link_.recv(prev, Tag::Step, &h, sizeof h));
        if (h.kind == kStop) {
            if (!is_last()) VKS_TRY(link_.send(link_.rank() + 1, Tag::Step, &h, sizeof h));
            return send_report(*this);
        }
        if (h.kind != kForward || h.n == 0 || h.n > n_batch_ || uint64(h.pos) + h.n > n_ctx_ || h.want > 2)
            return make_error(ErrorCode::Corrupt, "pipeline: " + link_.who(link_.rank()) + ": a malformed step header from " + link_.who(prev));
        fail_for_tests();
        VKS_TRY(link_.recv(prev, Tag::Activations, x_.data(), uint64(h.n) * model_->config().n_embd * sizeof(float)));
        VKS_TRY(step(nullptr, h.n, h.pos, h.want, nullptr));
    }
}

}  // namespace vk_symbiote::pipeline
