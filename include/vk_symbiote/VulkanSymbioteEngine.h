// VulkanSymbioteEngine: the public API. Owns the model (config, tokenizer, weight
// provider), the compute backend (Vulkan when available and the model fits, else CPU)
// and one generation session.
//
//   ConfigManager::instance().load_from_args(argc, argv);
//   VulkanSymbioteEngine engine("/path/to/model.gguf");
//   std::string text = engine.generate("Once upon a time", 100, 0.7f);
//
// Many generations at once share each pass over the weights (continuous batching):
//
//   auto a = engine.submit({.prompt = "Once upon a time", .options = opts});
//   auto b = engine.submit({.prompt = "The park", .options = opts});
//   while (*engine.step()) {}                      // one forward pass over both per step
//   std::string text = engine.status(*a).text;
//
// Errors: the documented constructor throws EngineError (carrying the Error) when the
// model cannot be loaded; create() returns Expected instead. generate() throws
// EngineError on a failure in the middle of a run (e.g. the model file was truncated);
// generate_stream() returns it as a value.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"
#include "vk_symbiote/DecodeRecording.h"
#include "vk_symbiote/PackReadStats.h"
#include "vk_symbiote/Generation.h"

namespace vk_symbiote {

class ConfigManager;
class Tokenizer;
struct ModelConfig;

// Several devices (--devices): one device's part of the placement, in layer order.
struct DevicePlacement {
    std::string device;                  // the device's name and index, e.g. "<device name> (1)": the index tells two cards of one model apart
    uint32 first_layer = 0;              // layers [first_layer, first_layer + n_layers)
    uint32 n_layers = 0;
    uint32 vram_resident_layers = 0;
    uint32 streamed_layers = 0;
    uint64 vram_budget_bytes = 0;
    uint64 peak_vram_bytes = 0;          // device memory obtained on this device (its own budget bounds it)
    uint64 weight_bytes_resident = 0;    // weights kept on this device (uploaded once, at the start)
    uint64 weight_bytes_uploaded = 0;    // host -> this device, since the last reset of the metrics
    uint64 activation_bytes_in = 0;      // residual rows from the previous device, since the last reset
    std::string placement;               // this device's own one-line placement
};

// Engine figures since the metrics were reset; the pack-read ones (pack_io_*, ...) from PackReadStats.h.
struct PerformanceMetrics : PackReadStats {
    // Documented fields.
    double average_tokens_per_second = 0;  // generation (decode) tokens per second, over all generations
    double gpu_utilization_percent = 0;    // GPU busy time / wall time of forward passes (0 on the CPU path)
    uint64 total_gpu_time_ns = 0;          // summed GPU time from timestamp queries
    uint64 total_inference_time_ns = 0;    // wall time spent inside forward passes
    uint64 total_inferences = 0;           // forward passes (one per prompt batch or generated token)
    // Further figures.
    double prompt_tokens_per_second = 0;
    uint64 cached_prompt_tokens = 0;       // prompt tokens whose KV came from an earlier generation (not computed)
    double time_to_first_token_ms = 0;     // last generation: prompt submitted -> first token sampled
    uint64 total_prompt_tokens = 0;
    uint64 total_generated_tokens = 0;
    uint64 prompt_time_ns = 0;
    uint64 generation_time_ns = 0;
    uint64 model_weight_bytes = 0;         // the weights one forward pass reads (every matrix once; of a mixture of experts the chosen ones')
    uint64 weight_bytes_disk = 0;          // weight bytes read from the model file (or pack cache)
    uint64 weight_bytes_uploaded = 0;      // weight bytes copied host -> device
    uint64 peak_vram_bytes = 0;
    uint64 peak_rss_bytes = 0;
    // Pack tiers (weights streamed in packs): requests served from the tier (hit) or that had
    // to load into it (miss); 0 when the tier is not used. RAM: from disk / the pack cache;
    // VRAM: uploads of streamed weights.
    uint64 ram_pack_hits = 0;
    uint64 ram_pack_misses = 0;
    uint64 vram_pack_hits = 0;
    uint64 vram_pack_misses = 0;
    // Mixture of experts on the Vulkan device: chosen experts found resident in VRAM, and those
    // that streamed over the bus or ran in a CPU layer of the hybrid decode.
    uint64 expert_vram_hits = 0;
    uint64 expert_vram_misses = 0;
    // KV caches in RAM (Vulkan, --ram-kv-prompt): prompt rows of those layers attended on the GPU
    // over the caches streamed from RAM (one per row and layer), and the cache bytes streamed.
    uint64 ram_kv_gpu_rows = 0;
    uint64 ram_kv_streamed_bytes = 0;
    uint64 weight_bytes_vram_resident = 0;  // weight bytes kept in VRAM for the whole run
    uint64 weight_bytes_cpu = 0;           // weight bytes the CPU computed from RAM (CPU path; hybrid CPU layers)
    // Mixture of experts: bytes of the experts the routers chose (each chosen expert of a pass
    // once), on any tier: what the passes read of the experts, where the rest of the weights
    // are read whole every pass.
    uint64 weight_bytes_experts_routed = 0;
    // The oracle's placement in numbers (0 when it does not apply): layers, layers entirely
    // VRAM-resident, layers streamed, and of those the ones the hybrid decode computes on the CPU.
    uint32 n_layers = 0;
    uint32 vram_resident_layers = 0;
    uint32 streamed_layers = 0;
    uint32 decode_cpu_layers = 0;
    // Rows split of the hybrid decode (0 when layers are split whole): the CPU computes the
    // rows of decode_cpu_kv_heads of the model's decode_kv_heads KV heads in every streamed layer.
    uint32 decode_cpu_kv_heads = 0;
    bool decode_head_on_cpu = false;  // rows split: the streamed output head computed on the CPU alone
    uint32 decode_kv_heads = 0;
    // RAM tier when weights stream in packs (0 otherwise): the budget packs may use, what is
    // resident now, the oracle's read-ahead window (layers, and the bytes that may be on their
    // way at once) and its prediction hit rate.
    uint64 ram_pack_budget_bytes = 0;
    uint64 ram_pack_resident_bytes = 0;
    uint32 ram_lookahead_layers = 0;
    uint64 ram_read_ahead_bytes = 0;  // 0: no cap (the whole window)
    double ram_prediction_hit_rate = 0;
    // Mixture of experts under a RAM budget: experts the routers chose that the oracle had
    // predicted (and so read ahead) before the router ran, and those it had not.
    uint64 ram_expert_hits = 0;
    uint64 ram_expert_misses = 0;
    // With --enable-profiling on the Vulkan path while weights stream: the last forward pass's
    // GPU timeline (0 otherwise): first to last event, time the uploads (transfer queue) and the
    // compute submissions were busy, and the time both were (the upload hidden under compute).
    uint64 stream_span_ns = 0;
    uint64 stream_upload_busy_ns = 0;
    uint64 stream_compute_busy_ns = 0;
    uint64 stream_overlap_ns = 0;
    // The oracle's HardwareTelemetry on the Vulkan path (GB/s, 0 = not measured): weight
    // bytes per second of the hybrid decode's CPU layers (their compute time only), of GPU
    // passes without CPU layers (GPU time, streaming waits included), and host -> device.
    double telemetry_cpu_weight_gbps = 0;
    double telemetry_gpu_weight_gbps = 0;
    double telemetry_host_to_device_gbps = 0;
    std::string placement;                 // e.g. "all in VRAM", "12 of 32 layers resident, rest streamed"
    std::string backend;                   // "cpu" or "vulkan (<device>)"
    // Several sequences per forward pass: how this backend runs them, the most sequences one
    // pass has carried, and the paged KV cache's blocks (used now, at peak, in all; 0 without one).
    std::string scheduling;                // e.g. "batched: many sequences per pass, ..." or "one sequence at a time"
    uint32 peak_sequences_per_pass = 0;
    // `serve --pipeline`: micro-batches sent through the stages, and the most in flight at once
    // (above 1: the ranks computed different micro-batches at the same time); 0 in one process.
    uint64 pipeline_micro_batches = 0;
    uint32 pipeline_peak_in_flight = 0;
    // Speculative decoding (0 without it): drafted tokens verified and those accepted, the
    // passes that verified a draft, time spent drafting and in those passes; decode passes
    // (without prompt tokens) and the tokens they generated (tokens per pass = the ratio).
    uint64 draft_tokens = 0;
    uint64 draft_accepted_tokens = 0;
    uint64 verify_passes = 0;
    uint64 draft_time_ns = 0;
    uint64 verify_time_ns = 0;
    uint64 decode_passes = 0;
    uint64 decode_tokens = 0;
    uint32 kv_blocks_used = 0;
    uint32 kv_blocks_peak = 0;
    uint32 kv_blocks_total = 0;
    std::vector<KernelTime> kernel_times;  // per shader variant, first-use order (see KernelTime)
    DecodeRecording decode_recording;      // Vulkan: dispatches, barriers, submissions of a decode token (see DecodeRecording)
    std::vector<DevicePlacement> devices;  // several devices (--devices): each one's part; empty with one
};

class EngineError : public std::runtime_error {
public:
    explicit EngineError(Error e) : std::runtime_error(e.to_string()), error_(std::move(e)) {}
    const Error& error() const { return error_; }

private:
    Error error_;
};

struct GenerationOptions {
    uint32 max_tokens = 256;
    float temperature = 0.7f;
    uint32 top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    uint32 repeat_last_n = 64;
    float frequency_penalty = 0.0f;  // OpenAI's penalties, llama.cpp's semantics (Sampler.h)
    float presence_penalty = 0.0f;
    bool logprobs = false;           // record each token's log probability (GenerationStatus::logprobs)
    uint32 top_logprobs = 0;         // and that many most likely alternatives
    std::optional<uint64> seed;   // unset: random
    bool add_bos = true;          // add BOS (if the model's metadata asks for it)
    bool parse_special = true;    // recognise special-token text in the prompt
    bool ignore_eos = false;      // keep generating through end-of-generation tokens (benchmarks)
    // Speculative decoding (SamplingConfig's draft_* fields): n-gram drafts verified in one
    // pass; greedy output unchanged, sampled output of the same distribution.
    bool draft_ngram = false;
    uint32 draft_ngram_size = 3;
    uint32 draft_max = 8;
    uint32 draft_min = 1;
    bool draft_adaptive = true;
    // Drafts from the engine's draft model (--draft-model; no effect without one), in place of
    // the n-gram lookup. False: this generation drafts as if none was loaded.
    bool draft_model = true;
    // Generation ends before the first of these strings appears in its text (the string and
    // what follows are not part of the text; streamed pieces never contain it).
    std::vector<std::string> stop;
};

struct GenerationRequest {
    std::string prompt;                 // tokenized (options.add_bos, parse_special) when prompt_tokens is empty
    std::vector<uint32> prompt_tokens;  // used as given when not empty
    GenerationOptions options;
    TokenCallback on_token;             // called inside step() with each piece; false cancels (it must not call the engine)
    // Start from the KV cache of an earlier generation (running, or finished with keep_kv) where
    // its tokens agree with this prompt: those positions are shared, not computed again.
    std::optional<GenerationId> prefix_from;
    bool release_prefix_source = false;  // hand prefix_from's kept KV cache over once this one starts
    bool keep_kv = false;                // keep the KV cache after finishing (for prefix_from) until release()
};

class VulkanSymbioteEngine {
public:
    // Uses ConfigManager::instance() for every option.
    explicit VulkanSymbioteEngine(const Path& model_path);
    VulkanSymbioteEngine(const Path& model_path, const ConfigManager& config);
    static Expected<std::unique_ptr<VulkanSymbioteEngine>> create(const Path& model_path, const ConfigManager& config);
    ~VulkanSymbioteEngine();
    VulkanSymbioteEngine(const VulkanSymbioteEngine&) = delete;
    VulkanSymbioteEngine& operator=(const VulkanSymbioteEngine&) = delete;

    // Text generation (sampling settings other than temperature come from the config). Each call
    // keeps its KV cache until the next one, which computes only where its prompt differs from
    // the previous prompt and reply (a chat's new turn).
    std::string generate(const std::string& prompt, uint32_t max_tokens = 256, float temperature = 0.7f);
    Expected<std::string> generate_stream(const std::string& prompt, const GenerationOptions& opts, const TokenCallback& on_token);
    // Same, from token ids (no tokenization).
    Expected<std::string> generate_tokens(const std::vector<uint32>& prompt_tokens, const GenerationOptions& opts, const TokenCallback& on_token,
                                          std::vector<uint32>* out_tokens = nullptr);

    // Many generations, one forward pass per step over all of them. submit() queues one (it
    // starts when the KV cache has room: a full cache makes it wait, never fail); step() runs
    // one pass over every active generation (decode tokens and prompt chunks, up to
    // --step-tokens) and returns false when none is left; wait() steps until `id` is finished.
    // On a backend without a batched pass (Vulkan for now) generations run one at a time.
    Expected<GenerationId> submit(const GenerationRequest& req);
    Expected<bool> step();
    ExpectedVoid wait(GenerationId id);
    GenerationStatus status(GenerationId id) const;  // poll: the text and tokens so far
    void cancel(GenerationId id);                    // ends it (FinishReason::Cancelled) at once
    void release(GenerationId id);                   // forgets a finished one and frees its kept KV cache

    // Token operations: encode adds BOS as the model says and parses special tokens.
    std::vector<uint32_t> encode(const std::string& text) const;
    std::string decode(const std::vector<uint32_t>& tokens) const;

    // Logits of every position of `tokens`, evaluated from an empty cache: [n][n_vocab]; with
    // all_positions = false only the last position's [n_vocab] (what generation needs after a
    // prompt: the output head runs for one position; llama-bench's prompt test does the same).
    Expected<std::vector<float>> evaluate(const std::vector<uint32>& tokens, bool all_positions = true);

    // Performance monitoring
    const PerformanceMetrics& get_performance_metrics() const;
    void reset_performance_metrics();

    const ModelConfig& model_config() const;
    const Tokenizer& tokenizer() const;
    // Tokens one sequence holds (--ctx-size, or the model's trained context capped as the
    // engine chose): prompt + generated tokens of one generate call.
    uint32 context_size() const;
    bool has_draft_model() const;  // --draft-model loaded
    GenerationOptions default_generation_options() const;  // from the config's sampling section
    std::string describe() const;  // one line: model, backend, budgets, placement

    struct Impl;

private:
    explicit VulkanSymbioteEngine(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace vk_symbiote
