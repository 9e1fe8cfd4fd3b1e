#include "vk_symbiote/VulkanSymbioteEngine.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "backend/cpu/CpuBackend.h"
#include "config/Logger.h"
#include "engine/BackendSelector.h"
#include "engine/DraftModelLoader.h"
#include "engine/SequenceRequests.h"
#include "memory/MemoryStats.h"
#include "model/LoadedModel.h"
#include "model/ModelConfig.h"
#include "model/Tokenizer.h"
#include "runtime/Sampler.h"
#include "runtime/Scheduler.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

namespace {
using Clock = std::chrono::steady_clock;
uint64 ns_since(Clock::time_point t0) { return uint64(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()); }

// Each device's part (several devices), its counters less those at the last metrics reset.
std::vector<DevicePlacement> device_placements(const BackendStats& b, const BackendStats& base) {
    std::vector<DevicePlacement> out;
    for (size_t d = 0; d < b.devices.size(); ++d) {
        const DevicePartStats& s = b.devices[d];
        const DevicePartStats* was = d < base.devices.size() ? &base.devices[d] : nullptr;
        DevicePlacement p;
        p.device = s.device + " (" + std::to_string(s.device_index) + ")";
        p.first_layer = s.first_layer;
        p.n_layers = s.n_layers;
        p.vram_resident_layers = s.vram_resident_layers;
        p.streamed_layers = s.streamed_layers;
        p.vram_budget_bytes = s.vram_budget_bytes;
        p.peak_vram_bytes = s.device_memory_peak;
        p.weight_bytes_resident = s.weight_bytes_vram_resident;
        p.weight_bytes_uploaded = s.weight_bytes_uploaded - (was ? was->weight_bytes_uploaded : 0);
        p.activation_bytes_in = s.activation_bytes_in - (was ? was->activation_bytes_in : 0);
        p.placement = s.placement;
        out.push_back(std::move(p));
    }
    return out;
}
}  // namespace

struct VulkanSymbioteEngine::Impl {
    Path model_path;
    MemoryConfig memory;
    PerformanceConfig performance;
    SamplingConfig sampling;
    std::shared_ptr<const LoadedModel> model;  // parsed once; shared with the weight provider
    std::unique_ptr<LoadedDraft> draft;         // --draft-model (nullptr: none); outlives sched's sequences
    SelectedBackend sel;                        // provider + backend (+ description)
    std::unique_ptr<Scheduler> sched;           // every generation and evaluation runs through it
    // The last generate call's generation, kept (its KV cache) so that the next call computes
    // only where its prompt differs (chat: the new turn); released by that next call.
    std::optional<GenerationId> last_kept;
    PerformanceMetrics metrics;
    uint64 decode_step_tokens = 0;              // tokens sampled by steps without prompt tokens
    Clock::time_point step_started;             // of the step in progress
    // The backend's and provider's counters at the last reset_performance_metrics(): theirs
    // run since they were created, the metrics report the difference.
    BackendStats backend_base;
    ProviderStats provider_base;
    bool device_metrics_stale = false;  // forward passes ran since update_device_metrics()

    const ModelConfig& cfg() const { return sel.provider->config(); }
    const Tokenizer& tok() const { return model->tokenizer(); }

    // One scheduler step. Its forward pass is accounted as it finishes (before the tokens are
    // sampled and streamed: see account_pass); its tokens after. False: nothing ran.
    Expected<bool> timed_step() {
        step_started = Clock::now();
        auto st = sched->step();
        if (!st) return st.error();
        if (st->sequences == 0) return false;
        metrics.total_generated_tokens += st->generated;
        if (st->prompt_tokens == 0) decode_step_tokens += st->generated;
        account_drafts(*st);
        update_rates();
        return true;
    }

    // A pass with prompt tokens counts as prompt time, one with decode tokens only as
    // generation time.
    void account_pass(const StepStats& st) {
        const uint64 ns = ns_since(step_started);
        metrics.total_inference_time_ns += ns;
        metrics.total_inferences += 1;
        metrics.total_prompt_tokens += st.prompt_tokens;
        (st.prompt_tokens > 0 ? metrics.prompt_time_ns : metrics.generation_time_ns) += ns;
        // The device / memory figures are gathered when somebody reads the metrics, not per
        // forward pass: per decode token they cost a /proc read and the providers' counters.
        device_metrics_stale = true;
    }

    void account_drafts(const StepStats& st) {
        metrics.draft_tokens += st.drafted;
        metrics.draft_accepted_tokens += st.accepted;
        metrics.draft_time_ns += st.draft_ns;
        if (st.verifying > 0) {
            metrics.verify_passes += 1;
            metrics.verify_time_ns += st.pass_ns;
        }
        if (st.prompt_tokens == 0) {
            metrics.decode_passes += 1;
            metrics.decode_tokens += st.generated;
        }
    }

    void update_rates() {
        if (metrics.generation_time_ns > 0) metrics.average_tokens_per_second = double(decode_step_tokens) * 1e9 / double(metrics.generation_time_ns);
        if (metrics.prompt_time_ns > 0) metrics.prompt_tokens_per_second = double(metrics.total_prompt_tokens) * 1e9 / double(metrics.prompt_time_ns);
    }

    // Steps until generation `id` has finished.
    ExpectedVoid wait(GenerationId id) {
        while (true) {
            const Sequence* s = sched->find(id);
            if (!s) return make_error(ErrorCode::InvalidArgument, "wait: no generation " + std::to_string(id));
            if (s->finished()) return {};
            auto ran = timed_step();
            if (!ran) return ran.error();
            if (!*ran && !sched->find(id)->finished())
                return make_error(ErrorCode::Internal, "generation " + std::to_string(id) + " cannot start: the KV cache cannot hold it");
        }
    }

    void update_device_metrics() {
        const BackendStats b = sel.backend->stats();
        metrics.total_gpu_time_ns = b.gpu_time_ns;  // since prepare(), as the utilization's wall time is not
        metrics.gpu_utilization_percent =
            metrics.total_inference_time_ns ? 100.0 * double(metrics.total_gpu_time_ns) / double(metrics.total_inference_time_ns) : 0.0;
        read_provider_stats(provider_stats());
        read_backend_stats(b);
        read_scheduler_stats();
        if (auto pm = read_process_memory()) metrics.peak_rss_bytes = std::max<uint64>(metrics.peak_rss_bytes, pm->peak_rss_bytes);
    }

    ProviderStats provider_stats() const {
        ProviderStats p = sel.provider->stats();
        p.routed_expert_bytes = sel.provider->routed_expert_bytes();
        return p;
    }

    void read_provider_stats(const ProviderStats& p) {
        const ProviderStats& base = provider_base;
        metrics.weight_bytes_disk = p.bytes_read - base.bytes_read;
        metrics.ram_pack_hits = p.pack_hits - base.pack_hits;
        metrics.ram_pack_misses = p.pack_misses - base.pack_misses;
        metrics.ram_pack_budget_bytes = p.pack_budget_bytes;
        metrics.ram_pack_resident_bytes = p.pack_resident_bytes;
        metrics.ram_lookahead_layers = p.lookahead_layers;
        metrics.ram_read_ahead_bytes = p.read_ahead_bytes;
        metrics.ram_prediction_hit_rate = p.prediction_hit_rate;
        metrics.ram_expert_hits = p.expert_hits - base.expert_hits;
        metrics.ram_expert_misses = p.expert_misses - base.expert_misses;
        metrics.weight_bytes_experts_routed = p.routed_expert_bytes - base.routed_expert_bytes;
        metrics.pack_io_busy_seconds = p.io_busy_seconds - base.io_busy_seconds;
        metrics.pack_io_active_seconds = p.io_active_seconds - base.io_active_seconds;
        metrics.pack_decode_busy_seconds = p.decode_busy_seconds - base.decode_busy_seconds;
        metrics.pack_decode_threads = p.decode_threads;
        metrics.pack_cache_bytes_read = p.cache_bytes_read - base.cache_bytes_read;
        metrics.pack_cache_bytes_delivered = p.cache_bytes_delivered - base.cache_bytes_delivered;
        metrics.pack_reads_raw = p.reads_raw;
    }

    void read_backend_stats(const BackendStats& b) {
        const BackendStats& base = backend_base;
        PerformanceMetrics& m = metrics;
        m.weight_bytes_uploaded = b.weight_bytes_uploaded - base.weight_bytes_uploaded;
        m.vram_pack_hits = b.vram_hits - base.vram_hits;
        m.vram_pack_misses = b.vram_misses - base.vram_misses;
        m.expert_vram_hits = b.expert_vram_hits - base.expert_vram_hits;
        m.expert_vram_misses = b.expert_vram_misses - base.expert_vram_misses;
        m.ram_kv_gpu_rows = b.ram_kv_gpu_rows - base.ram_kv_gpu_rows;
        m.ram_kv_streamed_bytes = b.ram_kv_streamed_bytes - base.ram_kv_streamed_bytes;
        m.weight_bytes_cpu = b.cpu_weight_bytes_per_pass ? b.cpu_weight_bytes_per_pass * m.total_inferences + m.weight_bytes_experts_routed
                                                         : b.hybrid_cpu_weight_bytes - base.hybrid_cpu_weight_bytes;
        m.weight_bytes_vram_resident = b.weight_bytes_vram_resident;
        m.n_layers = b.n_layers;
        m.vram_resident_layers = b.vram_resident_layers;
        m.streamed_layers = b.streamed_layers;
        m.decode_cpu_layers = b.decode_cpu_layers;
        m.decode_cpu_kv_heads = b.decode_cpu_kv_heads;
        m.decode_head_on_cpu = b.decode_head_on_cpu;
        m.decode_kv_heads = b.decode_kv_heads;
        m.telemetry_cpu_weight_gbps = b.telemetry_cpu_weight_gbps;
        m.telemetry_gpu_weight_gbps = b.telemetry_gpu_weight_gbps;
        m.telemetry_host_to_device_gbps = b.telemetry_host_to_device_gbps;
        m.placement = b.placement;
        m.stream_span_ns = b.stream_span_ns;
        m.stream_upload_busy_ns = b.stream_upload_busy_ns;
        m.stream_compute_busy_ns = b.stream_compute_busy_ns;
        m.stream_overlap_ns = b.stream_overlap_ns;
        m.kernel_times = b.kernel_times;
        m.decode_recording = b.decode_recording;
        subtract_kernel_base(m.kernel_times);
        m.peak_vram_bytes = std::max<uint64>(m.peak_vram_bytes, b.device_memory_reserved);
        m.devices = device_placements(b, backend_base);
    }

    void read_scheduler_stats() {
        metrics.scheduling = sched->describe();
        metrics.peak_sequences_per_pass = sched->peak_sequences_per_pass();
        if (const KvBlockPool* pool = sel.backend->kv_pool()) {
            metrics.kv_blocks_used = pool->used_blocks();
            metrics.kv_blocks_peak = pool->peak_used_blocks();
            metrics.kv_blocks_total = pool->n_blocks();
        }
    }

    // kernel_times -= kernel_base (by name); kernels with no dispatch since the reset drop out.
    void subtract_kernel_base(std::vector<KernelTime>& k) const {
        const std::vector<KernelTime>& kernel_base = backend_base.kernel_times;
        if (kernel_base.empty()) return;
        std::vector<KernelTime> out;
        for (const KernelTime& t : k) {
            KernelTime d = t;
            for (const KernelTime& b : kernel_base)
                if (b.name == t.name) {
                    d.dispatches -= std::min(d.dispatches, b.dispatches);
                    d.total_ns -= std::min(d.total_ns, b.total_ns);
                }
            if (d.dispatches > 0) out.push_back(std::move(d));
        }
        k = std::move(out);
    }
};

VulkanSymbioteEngine::VulkanSymbioteEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VulkanSymbioteEngine::~VulkanSymbioteEngine() = default;

VulkanSymbioteEngine::VulkanSymbioteEngine(const Path& model_path) : VulkanSymbioteEngine(model_path, ConfigManager::instance()) {}

VulkanSymbioteEngine::VulkanSymbioteEngine(const Path& model_path, const ConfigManager& config) {
    auto e = create(model_path, config);
    if (!e) throw EngineError(e.error());
    impl_ = std::move((*e)->impl_);
}

Expected<std::unique_ptr<VulkanSymbioteEngine>> VulkanSymbioteEngine::create(const Path& model_path, const ConfigManager& config) {
    auto impl = std::make_unique<Impl>();
    impl->model_path = model_path;
    impl->memory = config.memory();
    impl->performance = config.performance();
    impl->sampling = config.sampling();

    auto model = LoadedModel::open(model_path);
    if (!model) return model.error();
    impl->model = std::move(*model);

    // The draft is resident first: the model is placed in what it leaves of --ram-gb.
    if (!config.sampling().draft_model.empty()) {
        auto d = load_draft_model(*impl->model, model_path, config);
        if (!d) return d.error();
        impl->draft = std::move(*d);
    }
    auto sel = impl->draft ? select_backend(impl->model, config_without_draft(config, *impl->draft)) : select_backend(impl->model, config);
    if (!sel && impl->draft)
        return make_error(sel.error().code, sel.error().message + " (with --draft-model " + config.sampling().draft_model + " taking " +
                                                std::to_string(impl->draft->resident_bytes >> 20) + " MiB of --ram-gb)");
    if (!sel) return sel.error();
    impl->sel = std::move(*sel);
    if (impl->tok().n_vocab() != impl->cfg().n_vocab)
        return make_error(ErrorCode::Format, model_path.string() + ": tokenizer has " + std::to_string(impl->tok().n_vocab()) + " tokens but the model " +
                                                 std::to_string(impl->cfg().n_vocab));
    impl->sched = std::make_unique<Scheduler>(*impl->sel.backend, impl->tok(), impl->cfg().n_vocab, impl->sel.n_batch);
    Impl* m = impl.get();
    impl->sched->set_pass_observer([m](const StepStats& st) { m->account_pass(st); });
    impl->metrics.backend = impl->sel.backend_name;
    impl->metrics.scheduling = impl->sched->describe();
    impl->metrics.model_weight_bytes = impl->model->registry().token_pass_bytes(impl->cfg());
    VKS_LOG_INFO("model: " << impl->cfg().summary());
    VKS_LOG_INFO("engine: " << impl->sel.description);
    VKS_LOG_INFO("sequences: " << impl->sched->describe());
    return std::unique_ptr<VulkanSymbioteEngine>(new VulkanSymbioteEngine(std::move(impl)));
}

std::vector<uint32_t> VulkanSymbioteEngine::encode(const std::string& text) const { return impl_->tok().encode(text, true, true); }

std::string VulkanSymbioteEngine::decode(const std::vector<uint32_t>& tokens) const { return impl_->tok().decode(tokens); }

const ModelConfig& VulkanSymbioteEngine::model_config() const { return impl_->cfg(); }
const Tokenizer& VulkanSymbioteEngine::tokenizer() const { return impl_->tok(); }
uint32 VulkanSymbioteEngine::context_size() const { return impl_->sched->context_limit(); }
bool VulkanSymbioteEngine::has_draft_model() const { return impl_->draft != nullptr; }
const PerformanceMetrics& VulkanSymbioteEngine::get_performance_metrics() const {
    if (impl_->device_metrics_stale) {
        impl_->device_metrics_stale = false;
        impl_->update_device_metrics();
    }
    return impl_->metrics;
}
std::string VulkanSymbioteEngine::describe() const { return impl_->sel.description; }

void VulkanSymbioteEngine::reset_performance_metrics() {
    std::string b = impl_->metrics.backend;
    const uint64 weights = impl_->metrics.model_weight_bytes;
    impl_->metrics = PerformanceMetrics{};
    impl_->metrics.backend = b;
    impl_->decode_step_tokens = 0;
    impl_->metrics.model_weight_bytes = weights;
    impl_->backend_base = impl_->sel.backend->stats();
    impl_->provider_base = impl_->provider_stats();
    impl_->device_metrics_stale = true;
}

GenerationOptions VulkanSymbioteEngine::default_generation_options() const { return generation_options(impl_->sampling); }

std::string VulkanSymbioteEngine::generate(const std::string& prompt, uint32_t max_tokens, float temperature) {
    GenerationOptions o = default_generation_options();
    o.max_tokens = max_tokens;
    o.temperature = temperature;
    auto r = generate_stream(prompt, o, {});
    if (!r) throw EngineError(r.error());
    return *r;
}

Expected<std::string> VulkanSymbioteEngine::generate_stream(const std::string& prompt, const GenerationOptions& opts, const TokenCallback& on_token) {
    std::vector<uint32> toks = impl_->tok().encode(prompt, opts.add_bos, opts.parse_special);
    if (toks.empty()) toks.push_back(impl_->tok().bos_id());  // an empty prompt starts from BOS alone
    return generate_tokens(toks, opts, on_token);
}

Expected<std::string> VulkanSymbioteEngine::generate_tokens(const std::vector<uint32>& prompt, const GenerationOptions& opts, const TokenCallback& on_token,
                                                            std::vector<uint32>* out_tokens) {
    Impl& m = *impl_;
    if (prompt.empty()) return make_error(ErrorCode::InvalidArgument, "generate: empty prompt (no tokens)");
    GenerationRequest r;
    r.prompt_tokens = prompt;
    r.options = opts;
    r.on_token = on_token;
    // Continue from the previous call's cache where the prompt agrees with it (chat turns).
    r.prefix_from = m.last_kept;
    r.release_prefix_source = true;
    r.keep_kv = true;
    auto id = submit(r);
    if (!id) return id.error();
    auto w = m.wait(*id);
    if (m.last_kept) release(*m.last_kept);  // its cache went over to this one when it started
    m.last_kept = *id;
    VKS_TRY(w);
    const GenerationStatus st = status(*id);
    if (st.finish == FinishReason::Error) return make_error(ErrorCode::Io, st.error);
    if (st.finish == FinishReason::ContextLimit)
        VKS_LOG_WARN("context full after " << st.prompt_tokens + st.tokens.size() << " tokens; stopping (raise --ctx-size)");
    m.metrics.time_to_first_token_ms = st.time_to_first_token_ms;
    m.metrics.cached_prompt_tokens += st.cached_prompt_tokens;
    if (out_tokens) *out_tokens = st.tokens;
    return st.text;
}

Expected<std::vector<float>> VulkanSymbioteEngine::evaluate(const std::vector<uint32>& tokens, bool all_positions) {
    Impl& m = *impl_;
    SequenceRequest r;  // from an empty cache: no prefix
    r.prompt = tokens;
    r.all_logits = all_positions;
    r.max_tokens = 0;  // the prompt's logits only, nothing sampled
    auto id = m.sched->submit(std::move(r));
    if (!id) return id.error();
    auto w = m.wait(*id);
    const GenerationStatus st = m.sched->status(*id);
    std::vector<float> logits = m.sched->take_logits(*id);
    m.sched->release(*id);
    if (!w) return w.error();
    if (st.finish == FinishReason::Error) return make_error(ErrorCode::Io, st.error);
    return logits;
}

Expected<GenerationId> VulkanSymbioteEngine::submit(const GenerationRequest& req) {
    Impl& m = *impl_;
    SequenceRequest r = sequence_request(req, m.tok());
    if (m.draft && req.options.draft_model) r.draft.model = m.draft->draft.get();
    return m.sched->submit(std::move(r));
}

Expected<bool> VulkanSymbioteEngine::step() { return impl_->timed_step(); }

ExpectedVoid VulkanSymbioteEngine::wait(GenerationId id) { return impl_->wait(id); }

GenerationStatus VulkanSymbioteEngine::status(GenerationId id) const { return impl_->sched->status(id); }

// Both may give KV blocks back: the metrics' pool figures are read again at the next look.
void VulkanSymbioteEngine::cancel(GenerationId id) {
    impl_->sched->cancel(id);
    impl_->device_metrics_stale = true;
}

void VulkanSymbioteEngine::release(GenerationId id) {
    if (impl_->last_kept == id) impl_->last_kept.reset();
    impl_->sched->release(id);
    impl_->device_metrics_stale = true;
}

}  // namespace vk_symbiote
