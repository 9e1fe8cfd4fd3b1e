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

// The Step header's kinds (StepHeader, then the rows' n_embd floats of activations; kIdle:
// rank 0 has no step to send, every rank passes it on, so that no receive's deadline passes).
enum : uint32 { kStop = 0, kForward = 1, kIdle = 2 };

// Logits rows a chunk wants.
uint32 wanted_rows(const StageChunk& c) { return c.want == 0 ? 0 : c.want == 1 ? 1 : c.n; }

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
    VKS_TRY(s->ready());
    return s;
}

ExpectedVoid PipelineStage::ready() {
    uint32 placed = 1;
    if (link_.rank() != 0) {
        VKS_TRY(link_.send(0, Tag::Ready, &placed, sizeof placed));
        VKS_TRY(link_.recv(0, Tag::Ready, &placed, sizeof placed, kReadySlackS));
        link_base_ = link_.stats();
        return {};
    }
    for (uint32 r = 1; r < link_.size(); ++r) VKS_TRY(link_.recv(r, Tag::Ready, &placed, sizeof placed, kReadySlackS));
    for (uint32 r = 1; r < link_.size(); ++r) VKS_TRY(link_.send(r, Tag::Ready, &placed, sizeof placed));
    link_base_ = link_.stats();
    return {};
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
    tables_.assign(std::max<uint32>(cfg.performance().parallel, 1), KvBlockTable{});
    if (tables_.size() > kMaxStageChunks)
        return make_error(ErrorCode::InvalidArgument, "pipeline: --parallel " + std::to_string(tables_.size()) + " is more sequences than a micro-batch carries (" +
                                                          std::to_string(kMaxStageChunks) + ")");
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
    ids_.resize(n_batch_);
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
    backend_->set_kv_pool_tokens(uint64(n_ctx_) * tables_.size());  // a full context per sequence slot
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
    s.link = link_.stats();  // since ready(): the handshake and the wait for the slowest rank's loading left out
    s.link.comm_ns -= link_base_.comm_ns;
    s.link.bytes_sent -= link_base_.bytes_sent;
    s.link.bytes_received -= link_base_.bytes_received;
    s.weights = provider_ ? provider_->stats() : ProviderStats{};
    if (device_) s.uploaded_bytes = device_->stats().weight_bytes_uploaded;
    return s;
}

ExpectedVoid PipelineStage::check_step(const StepHeader& h) const {
    const std::string at = "pipeline: " + link_.who(link_.rank()) + ": ";
    if (h.kind != kForward || h.n_chunks == 0 || h.n_chunks > kMaxStageChunks) return make_error(ErrorCode::Corrupt, at + "a malformed step header");
    uint64 rows = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) {
        const StageChunk& c = h.chunks[i];
        if (c.slot >= tables_.size() || c.n == 0 || uint64(c.pos) + c.n > n_ctx_ || c.want > 2)
            return make_error(ErrorCode::InvalidArgument, at + "chunk " + std::to_string(i) + " (slot " + std::to_string(c.slot) + ", positions [" + std::to_string(c.pos) + ", " +
                                                              std::to_string(uint64(c.pos) + c.n) + ")) is outside the " + std::to_string(tables_.size()) +
                                                              " sequence slots (--parallel) or the context of " + std::to_string(n_ctx_));
        for (uint32 j = 0; j < i; ++j)
            if (h.chunks[j].slot == c.slot) return make_error(ErrorCode::InvalidArgument, at + "slot " + std::to_string(c.slot) + " twice in one micro-batch");
        rows += c.n;
    }
    if (rows > n_batch_) return make_error(ErrorCode::InvalidArgument, at + std::to_string(rows) + " tokens in one micro-batch, more than --step-tokens " + std::to_string(n_batch_));
    return {};
}

Expected<std::vector<SeqChunk>> PipelineStage::claim_kv(const StepHeader& h, const uint32* tokens) {
    KvBlockPool* pool = device_ ? device_->kv_pool() : backend_->kv_pool();
    std::vector<SeqChunk> out;
    uint32 row = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) {
        const StageChunk& c = h.chunks[i];
        SeqChunk sc;
        sc.kv = &tables_[c.slot];
        sc.tokens = link_.rank() == 0 ? tokens + row : ids_.data() + row;
        sc.n_tokens = c.n;
        sc.pos = c.pos;
        row += c.n;
        if (pool) {
            auto w = pool->prepare_write(tables_[c.slot], c.pos, c.pos + c.n);  // drops the slot's positions past c.pos
            if (!w) return make_error(ErrorCode::OutOfMemory, "pipeline: " + link_.who(link_.rank()) + ": the KV pool cannot hold slot " + std::to_string(c.slot) +
                                                                  " up to position " + std::to_string(c.pos + c.n) + ": " + w.error().message);
        }
        out.push_back(sc);
    }
    return out;
}

ExpectedVoid PipelineStage::step(const StepHeader& h, const uint32* tokens, float* logits) {
    const uint64 t0 = now_ns();
    if (stats_.steps == 0 && link_.rank() != 0) first_start_ns_ = t0;
    const uint64 V = model_->config().n_vocab, E = model_->config().n_embd;
    uint64 rows = 0, wanted = 0;
    for (uint32 i = 0; i < h.n_chunks; ++i) {
        rows += h.chunks[i].n;
        wanted += wanted_rows(h.chunks[i]);
    }
    float* out = link_.rank() == 0 ? logits : logits_.data();  // the last rank's logits rows
    auto chunks = claim_kv(h, tokens);
    if (!chunks) return chunks.error();
    if (device_ && !device_->kv_pool()) VKS_TRY(device_pass_own(h, tokens, out));
    else if (device_) VKS_TRY(device_pass(h, std::move(*chunks), out));
    else VKS_TRY(cpu_pass(h, *chunks, out));
    stats_.steps++;
    stats_.tokens += rows;
    stats_.compute_ns += now_ns() - t0;
    if (is_last()) {
        if (link_.rank() != 0 && wanted) VKS_TRY(link_.send(0, Tag::Logits, out, wanted * V * sizeof(float)));
        if (link_.rank() == 0) in_flight_.push_back(0);  // alone: the logits are there
        last_end_ns_ = now_ns();
        return {};
    }
    if (link_.rank() == 0) {
        uint64 id = 0;
        if (wanted) {
            auto posted = link_.recv_post(link_.size() - 1, Tag::Logits, logits, wanted * V * sizeof(float));
            if (!posted) return posted.error();
            id = *posted;
        }
        in_flight_.push_back(id);
    }
    VKS_TRY(link_.send(link_.rank() + 1, Tag::Step, &h, sizeof h));
    VKS_TRY(link_.send(link_.rank() + 1, Tag::Activations, x_.data(), rows * E * sizeof(float)));
    last_end_ns_ = now_ns();
    return {};
}

ExpectedVoid PipelineStage::submit(const std::vector<StageChunk>& chunks, const uint32* tokens, float* logits) {
    if (link_.rank() != 0) return make_error(ErrorCode::Internal, "pipeline: submit() runs on rank 0 only");
    if (chunks.size() > kMaxStageChunks) return make_error(ErrorCode::InvalidArgument, "pipeline: " + std::to_string(chunks.size()) + " chunks in one micro-batch");
    StepHeader h;
    h.kind = kForward;
    h.n_chunks = uint32(chunks.size());
    std::copy(chunks.begin(), chunks.end(), h.chunks);
    VKS_TRY(check_step(h));
    if (stats_.steps == 0) first_start_ns_ = now_ns();
    VKS_TRY(embed(h, tokens));
    return step(h, tokens, logits);
}

ExpectedVoid PipelineStage::collect() {
    if (in_flight_.empty()) return make_error(ErrorCode::Internal, "pipeline: collect() with no micro-batch in flight");
    const uint64 id = in_flight_.front();
    in_flight_.pop_front();
    // Rank 0 waits longer than the timeout (1 s more per rank between): when a rank fails, the
    // rank after it, waiting for it, names it first.
    if (id) VKS_TRY(link_.recv_wait(id, double(link_.size())));
    last_end_ns_ = now_ns();
    return {};
}

ExpectedVoid PipelineStage::forward(const uint32* tokens, uint32 n, uint32 pos, bool all, float* logits) {
    if (n == 0 || uint64(pos) + n > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "pipeline: positions [" + std::to_string(pos) + ", " + std::to_string(uint64(pos) + n) + ") exceed the context of " + std::to_string(n_ctx_));
    for (uint32 done = 0; done < n;) {
        const uint32 c = std::min(n - done, n_batch_);
        const bool final_chunk = done + c == n;
        const StageChunk chunk{0, c, pos + done, all ? 2u : final_chunk ? 1u : 0u};
        VKS_TRY(submit({chunk}, tokens + done, all ? logits + uint64(done) * model_->config().n_vocab : logits));
        VKS_TRY(collect());
        done += c;
    }
    return {};
}

ExpectedVoid PipelineStage::keepalive() {
    if (link_.rank() != 0 || link_.size() == 1) return {};
    StepHeader h;
    h.kind = kIdle;
    return link_.send(1, Tag::Step, &h, sizeof h);
}

ExpectedVoid PipelineStage::finish() {
    if (link_.rank() != 0 || link_.size() == 1) return {};
    StepHeader h;  // kind 0: the stop
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
        if (h.kind == kIdle) {
            if (!is_last()) VKS_TRY(link_.send(link_.rank() + 1, Tag::Step, &h, sizeof h));
            continue;
        }
        if (auto ok = check_step(h); !ok)
            return make_error(ErrorCode::Corrupt, ok.error().message + " from " + link_.who(prev) + " (the same --parallel and --step-tokens on every rank?)");
        fail_for_tests();
        uint64 rows = 0;
        for (uint32 i = 0; i < h.n_chunks; ++i) rows += h.chunks[i].n;
        VKS_TRY(link_.recv(prev, Tag::Activations, x_.data(), rows * model_->config().n_embd * sizeof(float)));
        VKS_TRY(step(h, nullptr, nullptr));
    }
}

}  // namespace vk_symbiote::pipeline
