// ConfigManager: every runtime option of vk_symbiote, filled from four layers in a fixed
// order of precedence:
//
//     defaults  <  INI file  <  VK_SYMBIOTE_* environment  <  command line
//
// The INI file is the one named by --config PATH, else by $VK_SYMBIOTE_CONFIG, else none.
// Every option is declared exactly once, in src/config/OptionTable.cpp (name, INI
// section/key, CLI flag(s), env var, type, range, help); that one table drives CLI, INI and
// env parsing, --help / --help-all (the [tuning] A/B knobs only there) and dump(). Defaults
// are the member initializers below (the table reads them from a default-constructed
// Settings, so they are written only here).
//
// Usage:
//     ConfigManager cfg;                                      // tests: no global state
//     ExpectedVoid r = cfg.load(argc, argv, env_lookup);      // env_lookup is injectable
//     ConfigManager::instance().load_from_args(argc, argv);   // programs: the process-wide one
//
// Thread-safety: none. Load and modify the configuration before starting worker threads;
// afterwards treat it as read-only (concurrent reads are fine).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// INI [memory]. Budgets are limits in GB (1 GB = 2^30 bytes), fractional values allowed.
struct MemoryConfig {
    // Unless set (INI, environment or command line), the engine takes its budgets from the
    // machine: free device memory and available RAM less a margin (engine/MachineBudgets.h),
    // said in one line. These values are then only what a MemoryConfig built in code holds.
    double vram_budget_gb = 4;
    double ram_budget_gb = 16;
    bool vram_budget_set = false;  // given by the user: a promise kept as is
    // Several devices (PerformanceConfig::devices): --vram-gb 4,8 gives each device its own
    // budget, in the order of the list (vram_budget_gb is then the first); one value (or none
    // here): every device gets vram_budget_gb.
    std::vector<double> vram_budgets_gb;
    bool ram_budget_set = false;
    // Canonical prefetch lookahead (packs / layers predicted ahead). PerformanceConfig has a
    // mirror because the seed doc's code example uses performance().prefetch_lookahead; see
    // ConfigManager::prefetch_lookahead() for which one wins.
    uint32 prefetch_lookahead = 3;
    float eviction_aggression = 0.7f;  // 0 = keep as much as possible, 1 = evict eagerly
    // Mixture-of-experts models under --ram-gb: tokens after which a router choice counts half
    // in the oracle's expert popularity (which experts it reads ahead and keeps resident).
    float expert_half_life = 16.0f;
    bool enable_compression = true;
    std::string compression_algorithm = "blosc2";  // none|blosc|blosc2|zfp|exponent (blosc2 = Debian's libblosc)
    uint32 max_packs_in_memory = 64;  // documented but not supported: another value is refused
    double max_pack_mb = 32;   // upper bound on one pack's uncompressed size, MB (2^20 bytes)
    std::string cache_dir;     // where packed / compressed caches go; empty = next to the model
    // Packs read with O_DIRECT (when the model does not fit --ram-gb): the page cache neither
    // hides the disk nor holds a second copy of what the packs hold. Off: buffered reads,
    // which the OS may serve from its cache (faster when it has spare RAM).
    bool direct_io = false;
    // With a pack cache: auto reads packs raw from the model file once the decode would slow
    // the run (packs/ReadModePolicy.h); always never does; never reads raw from the start.
    std::string compressed_reads = "auto";
    // Positions the paged KV cache holds over all sequences at once (0: --parallel x --ctx-size,
    // a full context for each). Counted in the RAM budget on the CPU path; sequences wait while it is full.
    uint32 kv_pool_tokens = 0;

    // Budgets in bytes (GB = 2^30, MB = 2^20), rounded down. The one GB-to-bytes factor.
    static constexpr double kBytesPerGB = 1073741824.0;
    static constexpr double kBytesPerMB = 1048576.0;
    uint64 vram_budget_bytes() const { return static_cast<uint64>(vram_budget_gb * kBytesPerGB); }
    uint64 ram_budget_bytes() const { return static_cast<uint64>(ram_budget_gb * kBytesPerGB); }
    uint64 max_pack_bytes() const { return static_cast<uint64>(max_pack_mb * kBytesPerMB); }
};

// INI [performance].
struct PerformanceConfig {
    bool enable_gpu = true;
    bool enable_profiling = false;
    uint32 workgroup_size_x = 16;
    uint32 workgroup_size_y = 16;
    bool use_subgroup_ops = true;
    bool use_fp16_math = true;
    float scale_factor = 1.0f;  // documented but not supported: another value is refused
    // Mirror of MemoryConfig::prefetch_lookahead, overwritten from it on every load. Not an
    // option of its own (no INI key / flag); writable for the seed doc's code example.
    uint32 prefetch_lookahead = 3;
    bool force_integrated_gpu = false;
    int32 device_index = -1;   // -1 = pick the best device
    // Vulkan devices the model's layers are split across (MultiDeviceBackend): comma-separated
    // indices ("0,1"; "0,0" opens one device twice, as the tests do) or "all"; empty: one
    // device (device_index).
    std::string devices;
    // The most tokens one forward pass computes over all sequences (decode tokens and prompt
    // chunks): the per-step token budget and the activations' batch size.
    uint32 step_tokens = 512;
    // Sequences generated at once (serve: requests beyond it queue). The KV cache holds this
    // many full contexts unless --kv-pool-tokens says otherwise.
    uint32 parallel = 1;
    std::string shader_dir;    // empty = the SPIR-V embedded at build time
    std::string pipeline_cache_path;
    uint32 threads = 0;        // CPU worker threads; 0 = all cores
};

// INI [logging].
struct LoggingConfig {
    std::string log_level = "INFO";  // DEBUG|INFO|WARNING|ERROR
    bool log_to_file = false;
    std::string log_file_path = "vk_symbiote.log";
    bool log_performance = true;   // no effect yet: false is a warning
    bool log_memory_usage = true;  // no effect yet: false is a warning
    uint32 max_log_file_size_mb = 100;  // a log file the engine created rotates to <path>.1 at this size; a user file is never renamed
    bool verbose = false;               // true = DEBUG level regardless of log_level
};

// Directory searched for a bare model name; $VK_SYMBIOTE_MODELS_DIR overrides it.
// Compile-time default: <VKS_SHARED_DIR>/models.
std::string default_models_dir();

// INI [model].
struct ModelSection {
    std::string model_path;
    std::string models_dir = default_models_dir();
    std::string chat_template_file;  // a Jinja chat template for `chat`, replacing the model's own
};

// INI [sampling] (and the generation flags of the command line).
struct SamplingConfig {
    std::string prompt;
    bool prompt_set = false;   // true when --prompt / [sampling] prompt was given (even if empty)
    std::string prompt_file;
    uint32 max_tokens = 256;
    float temperature = 0.7f;  // 0 = greedy
    uint32 top_k = 40;         // 0 = disabled
    float top_p = 0.95f;       // 1 = disabled
    float min_p = 0.05f;       // 0 = disabled
    float repeat_penalty = 1.0f;  // 1 = disabled
    uint32 repeat_last_n = 64;
    uint64 seed = 0;
    bool seed_set = false;     // false = pick a random seed
    uint32 ctx_size = 0;       // 0 = the model's trained context; unset: that, at most 2048
    bool ctx_size_set = false; // --ctx-size / [sampling] ctx_size given (even 0)
    // Speculative decoding (DraftParams in src/runtime/NgramDraft.h): n-gram drafts from the
    // context, their most / fewest tokens, the length adapted to what was measured.
    bool draft_ngram = false;
    uint32 draft_ngram_size = 3;
    uint32 draft_max = 8;
    uint32 draft_min = 1;
    bool draft_adaptive = true;
    // A draft model (--draft-model; empty: none): same vocabulary as the model, run on the
    // CPU, resident in RAM, its bytes taken from --ram-gb before the model is placed.
    std::string draft_model;
    bool raw = false;          // no chat template / BOS handling beyond the tokenizer's
    bool stats = false;        // print tokens/s and GB/s after the run
    bool json = false;         // machine-readable output
};

// INI [tuning]: A/B knobs for measurements, shown by --help-all. Each default is the
// measured best (docs/tuning.md gives the measurement); -1 / 0 / "auto" leave the choice to
// the engine.
struct TuningConfig {
    // CPU matvecs (CpuBackend::set_matvec_options): bytes of software prefetch ahead of each
    // weight row (-1: 1024 on the CPU path, 0 beside a GPU); Q/K/V and gate/up as one pool run.
    int32 cpu_prefetch_bytes = -1;
    bool cpu_batch = true;
    // Vulkan streaming (VulkanOptions): DMA from the provider's RAM (off: host staging),
    // the tensor-core prompt kernel, streaming slots (0: automatic, 1-8).
    bool zero_copy = true;
    bool cooperative_matrix = true;
    bool force_streaming = false;  // tests: stream every weight matrix (a streamed placement of a tiny model)
    uint32 stream_slots = 0;
    std::string hybrid_split = "auto";   // rows|layers|auto (VulkanOptions::HybridSplit)
    std::string rows_upload = "auto";    // dma|shader|auto (VulkanOptions::PromptUpload)
    std::string rows_head = "auto";      // cpu|split|auto (VulkanOptions::RowsHead)
    std::string prompt_upload = "auto";  // dma|shader|auto
    std::string kv_cache = "f16";        // f16|f32: K / V values on the GPU and its CPU part
    uint32 matvec_lanes = 0;             // lanes per unit of small matvecs (0: 64)
    uint32 smalln_tokens = 64;           // largest batch of the small-N weight kernel (0: off)
    uint32 smalln_block = 16;            // rows per workgroup of the small-N kernel
    std::string smalln_kernel = "regs";  // staged|lanes|regs: how the small-N kernel reads x (VulkanOptions::smalln_kernel)
    std::string prompt_attn = "auto";    // auto|flash|coop|classic: the GPU's attention of multi-row passes (VulkanOptions::prompt_attention)
    std::string moe_routing = "auto";    // auto|host|device: where a decode routes an all-resident MoE layer (VulkanOptions::moe_routing)
    std::string fuse_decode = "on";      // on|off: the GPU decode's fused norms, rows image in the first command buffer (VulkanOptions::fuse_decode)
    std::string decode_pipeline = "off"; // on|off: GPU decode in one submission per token, the next queued ahead (VulkanOptions::decode_one_submission, decode_ahead)
    uint32 attn_split_k = 256;           // keys per chunk of split-K decode attention (at least n_ctx / 64; 0: off)
    std::string ram_kv_prompt = "auto";  // auto|gpu|cpu: prompt attention of RAM-cache layers (VulkanOptions::ram_kv_prompt)
    uint32 copy_groups = 0;              // shader copies: workgroups per dispatch (0: default)
    uint32 rows_copy_groups = 0;         // rows split copies: workgroups (0: 256)
    double copy_chunk_mb = 0;            // shader copies: MiB per chunk (0: default)
    double copy_budget = 0;              // scale of each kernel group's share of copies (0: 1)
    int32 cpu_layers = -1;               // hybrid layers split: fixed CPU layers (-1: measured)
    int32 cpu_heads = -1;                // hybrid rows split: fixed CPU KV heads (-1: measured)
    // Pack reads (PackOptions): background I/O threads, MiB per O_DIRECT read (counted in
    // --ram-gb).
    uint32 io_threads = 4;
    uint32 io_staging_mb = 16;
    // Threads decoding pack cache reads beside the I/O threads (0: half the hardware threads,
    // at least 1); each holds one decompression scratch buffer counted in --ram-gb.
    uint32 decode_threads = 0;
    // Tests of the pipeline's failure handling: rank 1 exits after this many forward steps
    // (0: never), as a crashed process would; or stops answering, as a hung process or a cut
    // network would.
    uint32 pipeline_exit_after = 0;
    uint32 pipeline_stall_after = 0;
};

// INI [server]: `vk_symbiote serve` (src/server) and `vk_symbiote template`.
struct ServerConfig {
    std::string host = "127.0.0.1";  // address the server listens on (0.0.0.0: every interface)
    uint32 port = 8080;              // 0: any free port (the log line says which)
    std::string api_key;             // non-empty: every endpoint but /health wants "Authorization: Bearer <key>"
    double max_body_mb = 8;          // largest request body
    uint32 max_tokens_limit = 4096;  // largest max_tokens a request may ask for
    uint32 max_queue = 256;          // requests waiting beyond --parallel; more answer 503
    uint32 prompt_cache = 8;         // finished requests whose KV cache is kept for later ones (0: none)
    std::string template_file;       // `template`: the Jinja template to render
    std::string vars_file;           // `template`: a JSON object of template variables
    std::string date;                // `template`: YYYY-MM-DD that strftime_now formats (empty: today)
    uint64 max_body_bytes() const { return static_cast<uint64>(max_body_mb * 1048576.0); }
};

// INI [pipeline]: one model over several processes (mpirun; src/pipeline, docs/pipeline.md).
struct PipelineConfig {
    bool enabled = false;     // --pipeline: this process is one rank of a pipeline of layer ranges
    std::string budgets;      // "VRAM:RAM[:SPEED],..." per rank (empty: every rank's own budgets)
    double timeout_s = 60;    // the longest one send or receive between ranks waits
};

// All sections together: the value type the option table reads and writes.
struct Settings {
    MemoryConfig memory;
    PerformanceConfig performance;
    TuningConfig tuning;
    LoggingConfig logging;
    ModelSection model;
    SamplingConfig sampling;
    ServerConfig server;
    PipelineConfig pipeline;
};

class ConfigManager {
public:
    // Looks up an environment variable; nullopt = unset. The default reads the process env.
    using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
    static EnvLookup process_env();

    // Subcommands accepted as the first positional argument.
    static constexpr std::string_view kSubcommands[] = {"generate", "chat", "tokenize",
                                                        "perplexity", "pack", "bench",
                                                        "serve", "template"};

    ConfigManager() = default;

    // The process-wide configuration (the seed doc's API).
    static ConfigManager& instance();

    // Resets to defaults, then applies INI file, environment and command line. argv[0] is
    // the program name (skipped). On error nothing changes and the error names the source:
    // "--vram-gb: 'abc' is not a number", "config.ini:12: unknown key 'foo' in [memory]",
    // "VK_SYMBIOTE_RAM_GB: ...". Codes: InvalidArgument (command line), Config (INI / env),
    // Io (config file unreadable). --help / -h / --help-all anywhere makes load succeed
    // with help_requested() set (and help_all_requested() for --help-all), nothing applied.
    [[nodiscard]] ExpectedVoid load(int argc, const char* const* argv, const EnvLookup& env);
    // Same, with the arguments after the program name.
    [[nodiscard]] ExpectedVoid load(std::span<const std::string> args, const EnvLookup& env);
    // load() with the real process environment.
    [[nodiscard]] ExpectedVoid load_from_args(int argc, const char* const* argv);
    [[nodiscard]] ExpectedVoid load_from_args(int argc, char** argv);

    // Applies one INI file on top of the current values (no reset, no env / CLI).
    [[nodiscard]] ExpectedVoid apply_ini_file(const Path& path);
    // Sets one option by "section.key" from text, with the same validation as the INI file.
    [[nodiscard]] ExpectedVoid set(std::string_view section_dot_key, std::string_view value);
    // Back to defaults (also clears subcommand, help and config path).
    void reset();

    MemoryConfig& memory() { return s_.memory; }
    const MemoryConfig& memory() const { return s_.memory; }
    PerformanceConfig& performance() { return s_.performance; }
    const PerformanceConfig& performance() const { return s_.performance; }
    LoggingConfig& logging() { return s_.logging; }
    const LoggingConfig& logging() const { return s_.logging; }
    ModelSection& model() { return s_.model; }
    const ModelSection& model() const { return s_.model; }
    SamplingConfig& sampling() { return s_.sampling; }
    const SamplingConfig& sampling() const { return s_.sampling; }
    ServerConfig& server() { return s_.server; }
    const ServerConfig& server() const { return s_.server; }
    PipelineConfig& pipeline() { return s_.pipeline; }
    const PipelineConfig& pipeline() const { return s_.pipeline; }
    TuningConfig& tuning() { return s_.tuning; }
    const TuningConfig& tuning() const { return s_.tuning; }
    Settings& settings() { return s_; }
    const Settings& settings() const { return s_; }

    // The effective prefetch lookahead. memory().prefetch_lookahead is canonical (INI
    // [memory], --prefetch-lookahead, VK_SYMBIOTE_PREFETCH); performance().prefetch_lookahead
    // is set equal to it on every load / set. If code assigns the performance() mirror
    // afterwards (the seed doc's example), that assignment wins. Engine code calls this.
    uint32 prefetch_lookahead() const;

    // Re-checks every option against its range / choices (after programmatic changes).
    [[nodiscard]] ExpectedVoid validate() const;

    // The first positional argument ("generate", ...), empty if none (also set with --help).
    const std::string& subcommand() const { return subcommand_; }
    bool help_requested() const { return help_; }
    // --version anywhere (before "--"): load succeeds with nothing applied.
    bool version_requested() const { return version_; }
    bool help_all_requested() const { return help_all_; }
    // The INI file that was applied by the last load(), empty if none.
    const std::string& config_path() const { return config_path_; }

    // --help text: every option with its flag(s), default, env var and INI key; the
    // [tuning] section only when `all` (--help-all).
    std::string help_text(std::string_view program = "vk_symbiote", bool all = false) const;
    // The options part of help_text (general flags, then each section's options).
    std::string options_help_text(bool all = false) const;
    // The effective configuration as an INI file that apply_ini_file() reads back to the
    // same values.
    std::string dump() const;

    // Model file to open: model().model_path as given if it exists or is absolute, else
    // looked up in model().models_dir. NotFound / InvalidArgument errors say what was tried.
    Expected<Path> resolve_model_path() const;

private:
    void sync_mirrors();

    Settings s_;
    std::string subcommand_;
    std::string config_path_;
    bool help_ = false;
    bool help_all_ = false;
    bool version_ = false;
    uint32 synced_prefetch_ = MemoryConfig{}.prefetch_lookahead;
};

}  // namespace vk_symbiote
