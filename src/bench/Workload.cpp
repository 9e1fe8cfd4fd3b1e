#include "bench/Workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "probe/Probes.h"
#include "model/TensorRegistry.h"
#include "model/Tokenizer.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::bench {

namespace {

using Clock = std::chrono::steady_clock;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool gpu_backend(const PerformanceMetrics& m) { return m.backend.rfind("vulkan", 0) == 0; }

// Counter deltas over one run. The metrics are not reset between runs: some providers'
// byte counters are cumulative since the model was opened (reset_performance_metrics()
// then refills them with the running total), so before/after snapshots are the only
// delta that is right for every provider.
void fill_counters(RunSample& s, const PerformanceMetrics& before, const PerformanceMetrics& after) {
    s.forward_passes = after.total_inferences - std::min(after.total_inferences, before.total_inferences);
    s.disk_bytes = after.weight_bytes_disk - std::min(after.weight_bytes_disk, before.weight_bytes_disk);
    s.uploaded_bytes = after.weight_bytes_uploaded - std::min(after.weight_bytes_uploaded, before.weight_bytes_uploaded);
    s.peak_vram_bytes = after.peak_vram_bytes;
    s.peak_rss_bytes = std::max(after.peak_rss_bytes, probe::peak_rss_bytes());
    auto delta = [](uint64 a, uint64 b) { return a - std::min(a, b); };
    s.ram_pack_hits = delta(after.ram_pack_hits, before.ram_pack_hits);
    s.ram_pack_misses = delta(after.ram_pack_misses, before.ram_pack_misses);
    s.vram_pack_hits = delta(after.vram_pack_hits, before.vram_pack_hits);
    s.vram_pack_misses = delta(after.vram_pack_misses, before.vram_pack_misses);
    s.expert_hits = delta(after.ram_expert_hits, before.ram_expert_hits);
    s.expert_misses = delta(after.ram_expert_misses, before.ram_expert_misses);
    s.expert_vram_hits = delta(after.expert_vram_hits, before.expert_vram_hits);
    s.expert_vram_misses = delta(after.expert_vram_misses, before.expert_vram_misses);
    s.gpu_time_ns = delta(after.total_gpu_time_ns, before.total_gpu_time_ns);
    s.cpu_weight_bytes = delta(after.weight_bytes_cpu, before.weight_bytes_cpu);
    s.routed_expert_bytes = delta(after.weight_bytes_experts_routed, before.weight_bytes_experts_routed);
    s.pack_io_busy_seconds = std::max(0.0, after.pack_io_busy_seconds - before.pack_io_busy_seconds);
    s.pack_io_active_seconds = std::max(0.0, after.pack_io_active_seconds - before.pack_io_active_seconds);
    s.pack_decode_busy_seconds = std::max(0.0, after.pack_decode_busy_seconds - before.pack_decode_busy_seconds);
    s.pack_decode_threads = after.pack_decode_threads;
    s.pack_cache_bytes_read = delta(after.pack_cache_bytes_read, before.pack_cache_bytes_read);
    s.pack_cache_bytes_delivered = delta(after.pack_cache_bytes_delivered, before.pack_cache_bytes_delivered);
    s.pack_reads_raw = after.pack_reads_raw;
}

// Per-kernel totals added by name (sums of snapshots: their difference is the sum of the
// repetitions' differences).
void add_kernel_times(std::vector<KernelTime>& acc, const std::vector<KernelTime>& v) {
    for (const KernelTime& k : v) {
        auto it = std::find_if(acc.begin(), acc.end(), [&](const KernelTime& a) { return a.name == k.name; });
        if (it == acc.end()) {
            acc.push_back(k);
        } else {
            it->dispatches += k.dispatches;
            it->total_ns += k.total_ns;
        }
    }
}

// Workload-level figures over all timed repetitions: pack cache rates, GPU time, kernels
// (k_before / k_after: the kernel totals at the start and end of the timed spans, summed).
void finish_counters(WorkloadResult& w, const std::vector<KernelTime>& k_before, const std::vector<KernelTime>& k_after,
                     const PerformanceMetrics& last, bool tg) {
    w.pack_cache = pack_cache_figures(w.samples);
    uint64 tokens = 0;
    for (const RunSample& s : w.samples) {
        w.gpu_time_ns += s.gpu_time_ns;
        tokens += tg ? s.forward_passes : s.tokens;
    }
    w.kernels = kernel_figures(k_before, k_after, tokens, w.gpu_time_ns);
    w.stream_span_ns = last.stream_span_ns;
    w.stream_upload_ns = last.stream_upload_busy_ns;
    w.stream_compute_ns = last.stream_compute_busy_ns;
    w.stream_overlap_ns = last.stream_overlap_ns;
    w.decode_recording = last.decode_recording;
}

// Accounting of the median repetition (by tokens/s); tokens = what the passes processed.
Accounting account(const WorkloadResult& w, const TensorRegistry& reg, bool gpu, const ProbeResults& probes, bool tg) {
    if (w.samples.empty()) return {};
    std::vector<const RunSample*> order;
    for (auto& s : w.samples) order.push_back(&s);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->tokens_per_second < b->tokens_per_second; });
    const RunSample& m = *order[order.size() / 2];
    PassTraffic t;
    t.gpu_compute = gpu;
    t.forward_passes = m.forward_passes;
    // tg: one token per pass (the one-token prompt included); pp: the prompt; par: the tokens
    // the sequences generated, several per pass.
    t.tokens = tg && w.kind == "tg" ? m.forward_passes : m.tokens;
    t.weight_bytes_touched = weight_bytes_touched(reg, t.forward_passes, t.tokens, m.routed_expert_bytes);
    t.disk_bytes = m.disk_bytes;
    t.uploaded_bytes = m.uploaded_bytes;
    t.cpu_compute_bytes = gpu ? m.cpu_weight_bytes : 0;
    return compute_accounting(t, w.tokens_per_second.median, probes);
}

void finish(WorkloadResult& w) {
    std::vector<double> tps, ttft, per_seq;
    for (auto& s : w.samples) {
        tps.push_back(s.tokens_per_second);
        ttft.push_back(s.ttft_ms);
        per_seq.push_back(s.per_sequence_tokens_per_second);
    }
    w.tokens_per_second = summarize(tps);
    w.ttft_ms = summarize(ttft);
    if (w.kind == "par") w.per_sequence_tokens_per_second = summarize(per_seq);
}

void log_sample(const WorkloadOptions& o, const WorkloadResult& w, size_t rep, const RunSample& s) {
    if (!o.log) return;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s rep %zu: %llu tokens in %.3f s = %.2f tokens/s", w.name.c_str(), rep + 1,
                  static_cast<unsigned long long>(s.tokens), s.seconds, s.tokens_per_second);
    o.log(buf);
}

}  // namespace

std::vector<uint32> benchmark_tokens(uint32 n_vocab, uint32 n, uint64 seed, uint32 first_regular) {
    std::mt19937_64 rng(seed);
    uint32 lo = n_vocab > first_regular ? first_regular : 0;
    std::uniform_int_distribution<uint32> pick(lo, n_vocab ? n_vocab - 1 : 0);
    std::vector<uint32> out(n);
    for (auto& t : out) t = pick(rng);
    return out;
}

Expected<WorkloadResult> run_prompt_processing(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_tokens,
                                               const WorkloadOptions& opts, const ProbeResults& probes) {
    WorkloadResult w;
    w.kind = "pp";
    w.n_tokens = n_tokens;
    w.name = "pp" + std::to_string(n_tokens);
    if (n_tokens == 0) return make_error(ErrorCode::InvalidArgument, "-p: prompt length must be at least 1");
    std::vector<uint32> toks = benchmark_tokens(engine.model_config().n_vocab, n_tokens, opts.seed);
    // The last position's logits only, like a prompt before generation and llama-bench's pp
    // test: every token goes through every layer, the output head runs for one position.
    if (opts.warmup) {
        auto r = engine.evaluate(toks, false);
        if (!r) return r.error();
    }
    bool gpu = false;
    const PerformanceMetrics first = engine.get_performance_metrics();
    for (uint32 rep = 0; rep < std::max(1u, opts.repetitions); ++rep) {
        const PerformanceMetrics before = engine.get_performance_metrics();
        auto t0 = Clock::now();
        auto r = engine.evaluate(toks, false);
        double s = secs(Clock::now() - t0);
        if (!r) return r.error();
        RunSample smp;
        smp.tokens = n_tokens;
        smp.seconds = s;
        smp.tokens_per_second = s > 0 ? double(n_tokens) / s : 0;
        const PerformanceMetrics& m = engine.get_performance_metrics();
        fill_counters(smp, before, m);
        gpu = gpu_backend(m);
        w.samples.push_back(smp);
        log_sample(opts, w, rep, smp);
    }
    finish(w);
    const PerformanceMetrics& last = engine.get_performance_metrics();
    finish_counters(w, first.kernel_times, last.kernel_times, last, false);
    w.accounting = account(w, reg, gpu, probes, false);
    return w;
}

namespace {

// Greedy generation of exactly n_tokens (EOS ignored), no BOS added, special tokens not parsed.
GenerationOptions generation_options(const VulkanSymbioteEngine& engine, uint32 n_tokens, uint64 seed) {
    GenerationOptions g = engine.default_generation_options();
    g.max_tokens = n_tokens;
    g.temperature = 0;  // greedy
    g.repeat_penalty = 1.0f;
    g.seed = seed;
    g.add_bos = false;
    g.parse_special = false;
    g.ignore_eos = true;  // a tg run always produces n_tokens
    return g;
}

// One generation into smp. The timed span runs from the first sampled token to the last:
// the passes after the first token's (the prompt pass, in TTFT). at_first: the counters
// when the first token came, so that the sample's bytes, passes and GPU time cover the timed
// span only (a cold first pass's disk reads would otherwise count against the later
// tokens' time).
ExpectedVoid timed_generation(VulkanSymbioteEngine& engine, const std::vector<uint32>& prompt, const GenerationOptions& g, RunSample& smp,
                              PerformanceMetrics* at_first) {
    std::vector<Clock::time_point> stamps;
    stamps.reserve(g.max_tokens);
    auto t0 = Clock::now();
    auto r = engine.generate_tokens(prompt, g, [&](const std::string&, uint32 tok) {
        if (tok == UINT32_MAX) return true;  // the decoder's tail flush
        if (stamps.empty() && at_first) *at_first = engine.get_performance_metrics();
        stamps.push_back(Clock::now());
        return true;
    });
    if (!r) return r.error();
    smp.tokens = stamps.size();
    if (!stamps.empty()) smp.ttft_ms = secs(stamps.front() - t0) * 1e3;
    if (stamps.size() >= 2) {
        smp.seconds = secs(stamps.back() - stamps.front());
        smp.tokens_per_second = smp.seconds > 0 ? double(stamps.size() - 1) / smp.seconds : 0;
    }
    return {};
}

}  // namespace

Expected<WorkloadResult> run_generation(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_tokens,
                                        const WorkloadOptions& opts, const ProbeResults& probes) {
    WorkloadResult w;
    w.kind = "tg";
    w.n_tokens = n_tokens;
    w.name = "tg" + std::to_string(n_tokens);
    if (n_tokens < 2) return make_error(ErrorCode::InvalidArgument, "-n: generation length must be at least 2 (the first token comes from the prompt pass)");
    uint32 bos = engine.tokenizer().bos_id();
    std::vector<uint32> prompt = {bos < engine.model_config().n_vocab ? bos : benchmark_tokens(engine.model_config().n_vocab, 1, opts.seed)[0]};
    const GenerationOptions g = generation_options(engine, n_tokens, opts.seed);
    if (opts.warmup) {
        RunSample ignored;
        VKS_TRY(timed_generation(engine, prompt, g, ignored, nullptr));
    }
    bool gpu = false;
    std::vector<KernelTime> k_before, k_after;
    for (uint32 rep = 0; rep < std::max(1u, opts.repetitions); ++rep) {
        PerformanceMetrics at_first = engine.get_performance_metrics();  // kept if no token came
        RunSample smp;
        VKS_TRY(timed_generation(engine, prompt, g, smp, &at_first));
        const PerformanceMetrics& m = engine.get_performance_metrics();
        fill_counters(smp, at_first, m);
        add_kernel_times(k_before, at_first.kernel_times);
        add_kernel_times(k_after, m.kernel_times);
        gpu = gpu_backend(m);
        if (smp.tokens < 2 && opts.log) opts.log(w.name + ": the model ended generation after " + std::to_string(smp.tokens) + " token(s); no decode rate");
        w.samples.push_back(smp);
        log_sample(opts, w, rep, smp);
    }
    finish(w);
    finish_counters(w, k_before, k_after, engine.get_performance_metrics(), true);
    w.accounting = account(w, reg, gpu, probes, true);
    return w;
}

namespace {

// Submits one generation per prompt and steps until all have finished. On error every
// generation submitted is released.
Expected<std::vector<GenerationStatus>> generate_all(VulkanSymbioteEngine& engine, const std::vector<std::vector<uint32>>& prompts, const GenerationOptions& g) {
    std::vector<GenerationId> ids;
    auto release_all = [&] {
        for (GenerationId id : ids) engine.release(id);
    };
    for (const std::vector<uint32>& p : prompts) {
        GenerationRequest r;
        r.prompt_tokens = p;
        r.options = g;
        auto id = engine.submit(r);
        if (!id) {
            release_all();
            return id.error();
        }
        ids.push_back(*id);
    }
    while (true) {
        auto more = engine.step();
        if (!more) {
            release_all();
            return more.error();
        }
        if (!*more) break;
    }
    std::vector<GenerationStatus> out;
    for (GenerationId id : ids) out.push_back(engine.status(id));
    release_all();
    return out;
}

// One parallel run into smp: its wall time, tokens and the sequences' medians.
ExpectedVoid timed_parallel(VulkanSymbioteEngine& engine, const std::vector<std::vector<uint32>>& prompts, const GenerationOptions& g, RunSample& smp) {
    auto t0 = Clock::now();
    auto st = generate_all(engine, prompts, g);
    if (!st) return st.error();
    smp.seconds = secs(Clock::now() - t0);
    std::vector<double> ttft, rate;
    for (const GenerationStatus& s : *st) {
        if (s.finish == FinishReason::Error) return make_error(ErrorCode::Internal, "parallel generation failed: " + s.error);
        smp.tokens += s.tokens.size();
        ttft.push_back(s.time_to_first_token_ms);
        if (s.tokens.size() >= 2 && s.decode_ms > 0) rate.push_back(double(s.tokens.size() - 1) * 1e3 / s.decode_ms);
    }
    smp.tokens_per_second = smp.seconds > 0 ? double(smp.tokens) / smp.seconds : 0;
    smp.ttft_ms = summarize(ttft).median;
    smp.per_sequence_tokens_per_second = summarize(rate).median;
    return {};
}

}  // namespace

Expected<WorkloadResult> run_parallel_generation(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_sequences, uint32 n_tokens,
                                                 const WorkloadOptions& opts, const ProbeResults& probes) {
    WorkloadResult w;
    w.kind = "par";
    w.parallel = n_sequences;
    w.n_tokens = n_tokens;
    w.name = "par" + std::to_string(n_sequences) + "x" + std::to_string(n_tokens);
    if (n_sequences == 0) return make_error(ErrorCode::InvalidArgument, "--parallel: at least one sequence");
    if (n_tokens < 2) return make_error(ErrorCode::InvalidArgument, "--parallel: -n must be at least 2");
    const uint32 n_vocab = engine.model_config().n_vocab, bos = engine.tokenizer().bos_id();
    std::vector<std::vector<uint32>> prompts;
    for (uint32 i = 0; i < n_sequences; ++i) {
        const uint32 own = benchmark_tokens(n_vocab, 1, opts.seed + i)[0];
        prompts.push_back(bos < n_vocab ? std::vector<uint32>{bos, own} : std::vector<uint32>{own});
    }
    const GenerationOptions g = generation_options(engine, n_tokens, opts.seed);
    if (opts.warmup) {
        RunSample ignored;
        VKS_TRY(timed_parallel(engine, prompts, g, ignored));
    }
    const PerformanceMetrics first = engine.get_performance_metrics();
    for (uint32 rep = 0; rep < std::max(1u, opts.repetitions); ++rep) {
        const PerformanceMetrics before = engine.get_performance_metrics();
        RunSample smp;
        VKS_TRY(timed_parallel(engine, prompts, g, smp));
        fill_counters(smp, before, engine.get_performance_metrics());
        w.samples.push_back(smp);
        log_sample(opts, w, rep, smp);
    }
    finish(w);
    const PerformanceMetrics& last = engine.get_performance_metrics();
    finish_counters(w, first.kernel_times, last.kernel_times, last, false);
    w.accounting = account(w, reg, gpu_backend(last), probes, true);
    w.scheduling = last.scheduling;
    return w;
}

}  // namespace vk_symbiote::bench
