#include "config/OptionTable.h"

#include <algorithm>
#include <iterator>

namespace vk_symbiote::config {

namespace {

#define VKS_FIELD(path) [](Settings& s) -> FieldRef { return &s.path; }
#define VKS_PRESENCE(path) [](Settings& s) -> bool* { return &s.path; }
#define VKS_LIST(path) [](Settings& s) -> std::vector<double>* { return &s.path; }

constexpr double kMaxGb = 1 << 20;        // 1 PB: anything larger is a typo
constexpr double kU32 = 4294967295.0;

// The one option table. Order = help order = dump order within a section.
const OptionSpec kOptions[] = {
    // ---- [model] -----------------------------------------------------------------------
    {.section = "model", .key = "model_path", .cli = "--model", .metavar = "<path>",
     .field = VKS_FIELD(model.model_path),
     .help = "GGUF model file, or a Hugging Face folder (config.json, *.safetensors; a .safetensors file in it means the folder) (a bare name is looked up in models_dir)"},
    {.section = "model", .key = "models_dir", .env = "VK_SYMBIOTE_MODELS_DIR", .metavar = "<dir>",
     .field = VKS_FIELD(model.models_dir), .help = "directory searched for a bare model name"},
    {.section = "model", .key = "chat_template_file", .cli = "--chat-template-file", .metavar = "<path>",
     .field = VKS_FIELD(model.chat_template_file),
     .help = "Jinja chat template for chat, used instead of the model's tokenizer.chat_template (at most 1 MiB)"},

    // ---- [memory] ----------------------------------------------------------------------
    {.section = "memory", .key = "vram_budget_gb", .cli = "--vram-gb", .env = "VK_SYMBIOTE_VRAM_GB",
     .metavar = "<gib>", .field = VKS_FIELD(memory.vram_budget_gb), .presence = VKS_PRESENCE(memory.vram_budget_set),
     .list = VKS_LIST(memory.vram_budgets_gb), .min = 0, .max = kMaxGb, .unit_bytes = MemoryConfig::kBytesPerGB,
     .help = "VRAM budget in GiB, kept as a promise (fractional allowed, e.g. 0.5; 0: the device's own; unset: the device's free "
             "memory less a margin); with --devices one per device (4,8) or one for each"},
    {.section = "memory", .key = "ram_budget_gb", .cli = "--ram-gb", .env = "VK_SYMBIOTE_RAM_GB",
     .metavar = "<gib>", .field = VKS_FIELD(memory.ram_budget_gb), .presence = VKS_PRESENCE(memory.ram_budget_set), .min = 0, .max = kMaxGb,
     .unit_bytes = MemoryConfig::kBytesPerGB,
     .help = "RAM budget in GiB, kept as a promise (fractional allowed; unset: the available RAM less a margin)"},
    {.section = "memory", .key = "prefetch_lookahead", .cli = "--prefetch-lookahead",
     .env = "VK_SYMBIOTE_PREFETCH", .metavar = "<n>", .field = VKS_FIELD(memory.prefetch_lookahead),
     .min = 0, .max = 1024, .help = "how many packs / layers ahead to prefetch"},
    {.section = "memory", .key = "eviction_aggression", .cli = "--eviction-aggression",
     .metavar = "<f>", .field = VKS_FIELD(memory.eviction_aggression), .min = 0, .max = 1,
     .help = "eviction aggression 0.0-1.0"},
    {.section = "memory", .key = "expert_half_life", .cli = "--expert-half-life", .metavar = "<tokens>",
     .field = VKS_FIELD(memory.expert_half_life), .min = 0.5, .max = 1e6,
     .help = "mixture of experts: tokens after which a router choice counts half in the expert popularity that decides which experts are read ahead and kept in RAM and which stay in the VRAM expert cache"},
    {.section = "memory", .key = "enable_compression", .cli = "--no-compression", .cli_fixed = "false",
     .field = VKS_FIELD(memory.enable_compression), .help = "lossless pack compression: packs come from the compressed pack cache",
     .flag_help = "read packs uncompressed from the model file, no pack cache (pack: a cache of raw packs)"},
    {.section = "memory", .key = "compression_algorithm", .cli = "--compression-algorithm",
     .metavar = "<name>", .field = VKS_FIELD(memory.compression_algorithm),
     .choices = "none|blosc|blosc2|zfp|exponent", .help = "pack codec (blosc2 uses libblosc)"},
    {.section = "memory", .key = "max_packs_in_memory", .field = VKS_FIELD(memory.max_packs_in_memory),
     .min = 1, .max = kU32, .help = "not supported: the RAM budget bounds the packs (another value is refused)"},
    {.section = "memory", .key = "max_pack_mb", .cli = "--max-pack-mb", .metavar = "<mb>",
     .field = VKS_FIELD(memory.max_pack_mb), .min = 1.0 / 1024, .max = 1 << 16,
     .help = "largest pack size in MB"},
    {.section = "memory", .key = "cache_dir", .cli = "--cache-dir", .metavar = "<dir>",
     .field = VKS_FIELD(memory.cache_dir), .help = "pack cache directory (empty: next to the model)"},
    {.section = "memory", .key = "kv_pool_tokens", .cli = "--kv-pool-tokens", .metavar = "<n>",
     .field = VKS_FIELD(memory.kv_pool_tokens), .min = 0, .max = 1 << 28,
     .help = "positions the paged KV cache holds over all parallel sequences, counted in --ram-gb on the CPU path "
             "and in --vram-gb on the GPU (cut to what the VRAM budget leaves) (0: --parallel x --ctx-size); a generation "
             "waits while the cache is full. Given, a GPU placement with hybrid decode runs batched passes, the rows split's "
             "CPU share sized for each pass's rows (the layers split: all on the GPU)"},
    {.section = "memory", .key = "direct_io", .cli = "--direct-io", .cli_fixed = "true", .env = "VK_SYMBIOTE_DIRECT_IO",
     .field = VKS_FIELD(memory.direct_io), .help = "read packs with O_DIRECT, bypassing the OS page cache"},
    {.section = "memory", .key = "compressed_reads", .cli = "--compressed-reads", .env = "VK_SYMBIOTE_COMPRESSED_READS",
     .metavar = "<when>", .field = VKS_FIELD(memory.compressed_reads), .choices = "auto|always|never", .help = "pack cache reads: auto switches to raw reads of the model file once decoding delivers fewer bytes/s than the disk reads raw; always keeps the cache; never reads raw"},

    // ---- [performance] -----------------------------------------------------------------
    {.section = "performance", .key = "enable_gpu", .cli = "--disable-gpu", .cli_fixed = "false",
     .field = VKS_FIELD(performance.enable_gpu), .help = "use a Vulkan GPU when there is one",
     .flag_help = "run on the CPU only, never on a Vulkan device"},
    {.section = "performance", .key = "enable_profiling", .cli = "--enable-profiling",
     .cli_fixed = "true", .field = VKS_FIELD(performance.enable_profiling),
     .help = "collect per-op timings"},
    {.section = "performance", .key = "workgroup_size_x", .cli = "--workgroup-size",
     .cli_second = "performance.workgroup_size_y", .metavar = "<x> <y>",
     .field = VKS_FIELD(performance.workgroup_size_x), .min = 1, .max = 1024,
     .help = "workgroup size of the rmsnorm, attention and add kernels; the weight kernels "
             "choose their own (flag takes x and y)"},
    {.section = "performance", .key = "workgroup_size_y", .field = VKS_FIELD(performance.workgroup_size_y),
     .min = 1, .max = 1024, .help = "workgroup size y of the rmsnorm, attention and add kernels"},
    {.section = "performance", .key = "use_subgroup_ops", .cli = "--no-subgroups", .cli_fixed = "false",
     .field = VKS_FIELD(performance.use_subgroup_ops), .help = "subgroup reductions in the kernels",
     .flag_help = "reduce through shared memory instead of subgroup operations"},
    {.section = "performance", .key = "use_fp16_math", .cli = "--fp32", .cli_fixed = "false",
     .field = VKS_FIELD(performance.use_fp16_math), .help = "FP16 arithmetic in the kernels",
     .flag_help = "FP32 arithmetic in the kernels instead of FP16"},
    {.section = "performance", .key = "scale_factor", .field = VKS_FIELD(performance.scale_factor),
     .min = 1e-3, .max = 1e3, .help = "not supported: dispatch sizes are fixed per kernel (another value is refused)"},
    {.section = "performance", .key = "force_integrated_gpu", .cli = "--force-integrated-gpu",
     .cli_fixed = "true", .field = VKS_FIELD(performance.force_integrated_gpu),
     .help = "prefer an integrated GPU"},
    {.section = "performance", .key = "step_tokens", .cli = "--step-tokens", .metavar = "<n>",
     .field = VKS_FIELD(performance.step_tokens), .min = 1, .max = 1 << 16,
     .help = "most tokens one forward pass computes over all running sequences (decode tokens and prompt chunks); "
             "also the activations' batch size"},
    {.section = "performance", .key = "parallel", .cli = "--parallel", .metavar = "<n>", .field = VKS_FIELD(performance.parallel),
     .min = 1, .max = 1024,
     .help = "sequences generated at once (serve: further requests queue); the KV cache holds this many full --ctx-size "
             "contexts unless --kv-pool-tokens is set"},
    {.section = "performance", .key = "device_index", .cli = "--device-index", .metavar = "<i>",
     .field = VKS_FIELD(performance.device_index), .min = -1, .max = 1023,
     .help = "Vulkan device index (-1: best)"},
    {.section = "performance", .key = "devices", .cli = "--devices", .env = "VK_SYMBIOTE_DEVICES", .metavar = "<list>",
     .field = VKS_FIELD(performance.devices),
     .help = "Vulkan devices to split the model's layers across: indices (0,1; 0,0 opens one device twice) or all; each "
             "gets its own --vram-gb; empty: one device (--device-index)"},
    {.section = "performance", .key = "shader_dir", .cli = "--shader-dir", .metavar = "<dir>",
     .field = VKS_FIELD(performance.shader_dir),
     .help = "load / hot-reload shaders from here (empty: embedded SPIR-V)"},
    {.section = "performance", .key = "pipeline_cache_path", .metavar = "<path>",
     .field = VKS_FIELD(performance.pipeline_cache_path), .help = "Vulkan pipeline cache file"},
    {.section = "performance", .key = "threads", .cli = "--threads", .metavar = "<n>",
     .field = VKS_FIELD(performance.threads), .min = 0, .max = 4096,
     .help = "CPU threads (0: every hardware thread; more than the machine has are capped to it, with a warning)"},

    // ---- [tuning] (A/B knobs, --help-all; docs/tuning.md has each default's measurement) --
    {.section = "tuning", .key = "cpu_prefetch_bytes", .cli = "--cpu-prefetch-bytes", .env = "VK_SYMBIOTE_CPU_PREFETCH",
     .metavar = "<bytes>", .field = VKS_FIELD(tuning.cpu_prefetch_bytes), .min = -1, .max = 65536,
     .help = "software prefetch ahead of each weight row in the CPU's decode matvecs (-1: 1024 on the CPU path, "
             "0 beside a GPU)"},
    {.section = "tuning", .key = "cpu_batch", .cli = "--cpu-batch", .env = "VK_SYMBIOTE_CPU_BATCH", .metavar = "<bool>",
     .field = VKS_FIELD(tuning.cpu_batch),
     .help = "the CPU's Q/K/V and gate/up matvecs as one pool run per group (false: one per matrix)"},
    {.section = "tuning", .key = "zero_copy", .cli = "--no-zero-copy", .cli_fixed = "false",
     .env = "VK_SYMBIOTE_NO_ZERO_COPY", .env_negates = true, .field = VKS_FIELD(tuning.zero_copy),
     .help = "stream RAM-resident weights by DMA from the provider's memory",
     .flag_help = "stream RAM-resident weights through host staging instead of by DMA from their memory"},
    {.section = "tuning", .key = "cooperative_matrix", .cli = "--no-coopmat", .cli_fixed = "false",
     .env = "VK_SYMBIOTE_NO_COOPMAT", .env_negates = true, .field = VKS_FIELD(tuning.cooperative_matrix),
     .help = "tensor-core prompt kernel where the device offers it",
     .flag_help = "the tiled prompt kernel instead of the tensor-core one"},
    {.section = "tuning", .key = "stream_slots", .cli = "--stream-slots", .env = "VK_SYMBIOTE_STREAM_SLOTS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.stream_slots), .min = 0, .max = 8,
     .help = "VRAM streaming slots, each one layer's streamed weights (0: automatic)"},
    {.section = "tuning", .key = "hybrid_split", .cli = "--hybrid-split", .env = "VK_SYMBIOTE_HYBRID_SPLIT",
     .metavar = "<how>", .field = VKS_FIELD(tuning.hybrid_split), .choices = "auto|rows|layers",
     .help = "how the hybrid decode divides streamed layers between CPU and GPU (auto: rows where possible)"},
    {.section = "tuning", .key = "rows_upload", .cli = "--rows-upload", .env = "VK_SYMBIOTE_ROWS_UPLOAD",
     .metavar = "<how>", .field = VKS_FIELD(tuning.rows_upload), .choices = "auto|dma|shader",
     .help = "how the rows split streams the GPU's rows (auto: shader copies on NVIDIA, DMA elsewhere; of batched passes, one-row ones only)"},
    {.section = "tuning", .key = "rows_head", .cli = "--rows-head", .env = "VK_SYMBIOTE_ROWS_HEAD",
     .metavar = "<where>", .field = VKS_FIELD(tuning.rows_head), .choices = "auto|cpu|split",
     .help = "rows split, a streamed output head: on the CPU or split by rows (auto: cpu with shader copies, split in batched passes)"},
    {.section = "tuning", .key = "prompt_upload", .cli = "--prompt-upload", .env = "VK_SYMBIOTE_PROMPT_UPLOAD",
     .metavar = "<how>", .field = VKS_FIELD(tuning.prompt_upload), .choices = "auto|dma|shader",
     .help = "how prompt batches stream weights (auto: shader copies on NVIDIA, DMA elsewhere)"},
    {.section = "tuning", .key = "kv_cache", .cli = "--kv-cache", .env = "VK_SYMBIOTE_KV_CACHE", .metavar = "<type>",
     .field = VKS_FIELD(tuning.kv_cache), .choices = "f16|f32",
     .help = "K / V value precision on the Vulkan path (f16: llama.cpp's default, the reference)"},
    {.section = "tuning", .key = "matvec_lanes", .cli = "--matvec-lanes", .env = "VK_SYMBIOTE_MATVEC_LANES",
     .metavar = "<n>", .field = VKS_FIELD(tuning.matvec_lanes), .min = 0, .max = 1024,
     .help = "lanes per output unit of matvecs with fewer than 8192 units (0: 64)"},
    {.section = "tuning", .key = "smalln_tokens", .cli = "--smalln-tokens", .env = "VK_SYMBIOTE_SMALLN_TOKENS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.smalln_tokens), .min = 0, .max = 64,
     .help = "largest batch (rows per pass) the GPU's small-N weight kernel runs (0: off: per-token matvecs up "
             "to 8 rows, then the tiled matmul)"},
    {.section = "tuning", .key = "smalln_block", .cli = "--smalln-block", .env = "VK_SYMBIOTE_SMALLN_BLOCK",
     .metavar = "<n>", .field = VKS_FIELD(tuning.smalln_block), .min = 2, .max = 32,
     .help = "rows per workgroup of the small-N kernel (a power of two: rounded down; larger batches run in blocks)"},
    {.section = "tuning", .key = "smalln_kernel", .cli = "--smalln-kernel", .env = "VK_SYMBIOTE_SMALLN_KERNEL",
     .metavar = "<how>", .field = VKS_FIELD(tuning.smalln_kernel), .choices = "staged|lanes|regs",
     .help = "how the small-N kernel reads the rows' x (staged: chunks in shared memory once per workgroup; lanes: "
             "from global memory per weight packet; regs: staged, each chunk loaded into registers a chunk ahead)"},
    {.section = "tuning", .key = "prompt_attn", .cli = "--prompt-attn", .env = "VK_SYMBIOTE_PROMPT_ATTN",
     .metavar = "<kernel>", .field = VKS_FIELD(tuning.prompt_attn), .choices = "auto|flash|coop|classic",
     .help = "GPU attention of multi-row passes (flash: K / V tiles in shared memory, 2+ rows; coop: flash on tensor cores where the device "
             "has them; classic: per head and row; auto: flash from 32)"},
    {.section = "tuning", .key = "moe_routing", .cli = "--moe-routing", .env = "VK_SYMBIOTE_MOE_ROUTING",
     .metavar = "<where>", .field = VKS_FIELD(tuning.moe_routing), .choices = "auto|host|device",
     .help = "GPU decode of a mixture-of-experts layer whose experts are all in VRAM: device: routed by a kernel, the chosen experts "
             "by indirect dispatches, no host wait; host: the router's logits read back between two submissions; auto: device up to "
             "64 experts (streamed experts: always host)"},
    {.section = "tuning", .key = "fuse_decode", .cli = "--fuse-decode", .env = "VK_SYMBIOTE_FUSE_DECODE",
     .metavar = "<on|off>", .field = VKS_FIELD(tuning.fuse_decode), .choices = "on|off",
     .help = "GPU decode recording: on: RMSNorms fused into the matvecs after them and the pass's rows image copied in its "
             "first command buffer; off: separate norm dispatches and a waited upload before the first (A/B)"},
    {.section = "tuning", .key = "decode_pipeline", .cli = "--decode-pipeline", .env = "VK_SYMBIOTE_DECODE_PIPELINE",
     .metavar = "<on|off>", .field = VKS_FIELD(tuning.decode_pipeline), .choices = "on|off",
     .help = "GPU decode: on: a token in one command buffer (all resident: one submission) and, greedy, all resident, the next "
             "token's pass queued before the last ends (argmax and embedding row on the device); off: a submission after layer 0 "
             "and every 8 layers, nothing queued ahead (A/B)"},
    {.section = "tuning", .key = "attn_split_k", .cli = "--attn-split-k", .env = "VK_SYMBIOTE_ATTN_SPLIT_K", .metavar = "<keys>",
     .field = VKS_FIELD(tuning.attn_split_k), .min = 0, .max = kU32, .help = "keys per chunk of the GPU's split-K "
     "(flash decoding) decode attention, at least n_ctx / 64; longer rows split (0: off: a workgroup per head)"},
    {.section = "tuning", .key = "ram_kv_prompt", .cli = "--ram-kv-prompt", .env = "VK_SYMBIOTE_RAM_KV_PROMPT",
     .metavar = "<where>", .field = VKS_FIELD(tuning.ram_kv_prompt), .choices = "auto|gpu|cpu",
     .help = "attention of prompt batches for layers whose KV cache is in RAM (gpu: on the GPU over the cache streamed in "
             "chunks of 1024 keys, 2+ rows; cpu: on the host; auto: gpu from 32 rows, cpu on a CPU device such as lavapipe; decode rows stay on the host)"},
    {.section = "tuning", .key = "copy_groups", .cli = "--copy-groups", .env = "VK_SYMBIOTE_COPY_GROUPS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.copy_groups), .min = 0, .max = 4096,
     .help = "workgroups per shader-copy dispatch of prompt streaming (0: default)"},
    {.section = "tuning", .key = "rows_copy_groups", .cli = "--rows-copy-groups", .env = "VK_SYMBIOTE_ROWS_COPY_GROUPS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.rows_copy_groups), .min = 0, .max = 4096,
     .help = "workgroups per rows-split copy dispatch (0: 256)"},
    {.section = "tuning", .key = "copy_chunk_mb", .cli = "--copy-chunk-mb", .env = "VK_SYMBIOTE_COPY_CHUNK_MB",
     .metavar = "<mib>", .field = VKS_FIELD(tuning.copy_chunk_mb), .min = 0, .max = 1024,
     .help = "MiB per shader-copy chunk (0: default)"},
    {.section = "tuning", .key = "copy_budget", .cli = "--copy-budget", .env = "VK_SYMBIOTE_COPY_BUDGET",
     .metavar = "<x>", .field = VKS_FIELD(tuning.copy_budget), .min = 0, .max = 100,
     .help = "scale of each kernel group's share of the shader copies (0: default)"},
    {.section = "tuning", .key = "cpu_layers", .cli = "--cpu-layers", .env = "VK_SYMBIOTE_CPU_LAYERS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.cpu_layers), .min = -1, .max = 4096,
     .help = "hybrid layers split: streamed layers on the CPU, fixed (-1: the measured search)"},
    {.section = "tuning", .key = "cpu_heads", .cli = "--cpu-heads", .env = "VK_SYMBIOTE_CPU_HEADS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.cpu_heads), .min = -1, .max = 4096,
     .help = "hybrid rows split: KV heads per streamed layer on the CPU, fixed and clamped to the split's "
             "range (-1: the measured search)"},
    {.section = "tuning", .key = "force_streaming", .cli = "--force-streaming", .cli_fixed = "true", .env = "VK_SYMBIOTE_FORCE_STREAMING",
     .field = VKS_FIELD(tuning.force_streaming), .help = "tests: the Vulkan placement streams every weight matrix even when all would fit"},
    {.section = "tuning", .key = "pipeline_exit_after", .cli = "--pipeline-exit-after", .env = "VK_SYMBIOTE_PIPELINE_EXIT_AFTER",
     .metavar = "<n>",
     .field = VKS_FIELD(tuning.pipeline_exit_after), .min = 0, .max = kU32,
     .help = "tests: rank 1 of a --pipeline run exits after n forward steps, as a crash would (0: never)"},
    {.section = "tuning", .key = "pipeline_stall_after", .cli = "--pipeline-stall-after", .env = "VK_SYMBIOTE_PIPELINE_STALL_AFTER",
     .metavar = "<n>",
     .field = VKS_FIELD(tuning.pipeline_stall_after), .min = 0, .max = kU32,
     .help = "tests: rank 1 of a --pipeline run stops answering after n forward steps, as a hung rank would (0: never)"},
    {.section = "tuning", .key = "io_threads", .cli = "--io-threads", .env = "VK_SYMBIOTE_IO_THREADS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.io_threads), .min = 1, .max = 64,
     .help = "background I/O threads reading packs"},
    {.section = "tuning", .key = "io_staging_mb", .cli = "--io-staging-mb", .env = "VK_SYMBIOTE_IO_STAGING_MB",
     .metavar = "<mib>", .field = VKS_FIELD(tuning.io_staging_mb), .min = 1, .max = 256,
     .help = "MiB per O_DIRECT pack read (the staging counts in --ram-gb)"},
    {.section = "tuning", .key = "decode_threads", .cli = "--decode-threads", .env = "VK_SYMBIOTE_DECODE_THREADS",
     .metavar = "<n>", .field = VKS_FIELD(tuning.decode_threads), .min = 0, .max = 256,
     .help = "threads decompressing pack cache reads beside the I/O threads, each with a scratch pack counted in --ram-gb (0: half the hardware threads)"},

    // ---- [logging] ---------------------------------------------------------------------
    {.section = "logging", .key = "log_level", .cli = "--log-level", .metavar = "<level>",
     .field = VKS_FIELD(logging.log_level), .choices = "DEBUG|INFO|WARNING|ERROR",
     .help = "log level"},
    {.section = "logging", .key = "log_to_file", .field = VKS_FIELD(logging.log_to_file),
     .help = "also write the log to log_file_path"},
    {.section = "logging", .key = "log_file_path", .cli = "--log-file",
     .cli_implies = "logging.log_to_file=true", .metavar = "<path>",
     .field = VKS_FIELD(logging.log_file_path), .help = "log file (the flag also turns file logging on)"},
    {.section = "logging", .key = "log_performance", .field = VKS_FIELD(logging.log_performance),
     .help = "no effect yet (a warning when off; --stats prints the figures)"},
    {.section = "logging", .key = "log_memory_usage", .field = VKS_FIELD(logging.log_memory_usage),
     .help = "no effect yet (a warning when off; --stats prints the figures)"},
    {.section = "logging", .key = "max_log_file_size_mb", .field = VKS_FIELD(logging.max_log_file_size_mb),
     .min = 1, .max = 1 << 20, .help = "log file size cap in MB (a log the engine created rotates to <path>.1; any other file is appended to, never renamed)"},
    {.section = "logging", .key = "verbose", .cli = "--verbose", .cli_short = "-v", .cli_fixed = "true",
     .cli_implies = "logging.log_level=DEBUG", .field = VKS_FIELD(logging.verbose),
     .help = "verbose (DEBUG) logging"},

    // ---- [sampling] --------------------------------------------------------------------
    {.section = "sampling", .key = "prompt", .cli = "--prompt", .metavar = "<text>",
     .field = VKS_FIELD(sampling.prompt), .presence = VKS_PRESENCE(sampling.prompt_set),
     .help = "prompt text"},
    {.section = "sampling", .key = "prompt_file", .cli = "--prompt-file", .metavar = "<path>",
     .field = VKS_FIELD(sampling.prompt_file), .help = "read the prompt from a file (its bytes exactly, at most 64 MiB; not with --prompt)"},
    {.section = "sampling", .key = "max_tokens", .cli = "--max-tokens", .metavar = "<n>",
     .field = VKS_FIELD(sampling.max_tokens), .min = 0, .max = kU32, .help = "tokens to generate"},
    {.section = "sampling", .key = "temperature", .cli = "--temperature", .metavar = "<t>",
     .field = VKS_FIELD(sampling.temperature), .min = 0, .max = 100, .help = "temperature (0: greedy)"},
    {.section = "sampling", .key = "top_k", .cli = "--top-k", .metavar = "<k>",
     .field = VKS_FIELD(sampling.top_k), .min = 0, .max = kU32, .help = "top-k (0: off)"},
    {.section = "sampling", .key = "top_p", .cli = "--top-p", .metavar = "<p>",
     .field = VKS_FIELD(sampling.top_p), .min = 0, .max = 1, .help = "top-p / nucleus (1: off)"},
    {.section = "sampling", .key = "min_p", .cli = "--min-p", .metavar = "<p>",
     .field = VKS_FIELD(sampling.min_p), .min = 0, .max = 1, .help = "min-p (0: off)"},
    {.section = "sampling", .key = "repeat_penalty", .cli = "--repeat-penalty", .metavar = "<f>",
     .field = VKS_FIELD(sampling.repeat_penalty), .min = 1e-3, .max = 100,
     .help = "repetition penalty (1: off)"},
    {.section = "sampling", .key = "repeat_last_n", .cli = "--repeat-last-n", .metavar = "<n>",
     .field = VKS_FIELD(sampling.repeat_last_n), .min = 0, .max = kU32,
     .help = "tokens the penalty looks back"},
    {.section = "sampling", .key = "seed", .cli = "--seed", .metavar = "<n>", .field = VKS_FIELD(sampling.seed),
     .presence = VKS_PRESENCE(sampling.seed_set), .help = "RNG seed (unset: random)"},
    {.section = "sampling", .key = "ctx_size", .cli = "--ctx-size", .metavar = "<n>",
     .field = VKS_FIELD(sampling.ctx_size), .presence = VKS_PRESENCE(sampling.ctx_size_set), .min = 0, .max = 1 << 24,
     .help = "context length in tokens (0: the model's trained context; unset: that, at most 2048; beyond the trained context "
             "warns)"},
    {.section = "sampling", .key = "draft_ngram", .cli = "--draft-ngram", .cli_fixed = "true",
     .field = VKS_FIELD(sampling.draft_ngram),
     .help = "speculative decoding with drafts from the context (prompt lookup): the tokens that followed the latest earlier "
             "occurrence of the last n tokens, verified in one forward pass"},
    {.section = "sampling", .key = "draft_model", .cli = "--draft-model", .metavar = "<path>",
     .field = VKS_FIELD(sampling.draft_model),
     .help = "speculative decoding with drafts from a small model of the same vocabulary (size, BOS / EOS checked at start), "
             "greedy, on the CPU and resident in RAM: its weights and KV cache are taken from --ram-gb before the model is "
             "placed; one sequence at a time (not with --parallel > 1); takes precedence over --draft-ngram"},
    {.section = "sampling", .key = "draft_ngram_size", .cli = "--draft-ngram-size", .metavar = "<n>",
     .field = VKS_FIELD(sampling.draft_ngram_size), .min = 1, .max = 64,
     .help = "longest n-gram --draft-ngram looks up (then shorter ones, down to 1)"},
    {.section = "sampling", .key = "draft_max", .cli = "--draft-max", .metavar = "<n>",
     .field = VKS_FIELD(sampling.draft_max), .min = 1, .max = 256, .help = "most tokens drafted for one verification pass"},
    {.section = "sampling", .key = "draft_min", .cli = "--draft-min", .metavar = "<n>",
     .field = VKS_FIELD(sampling.draft_min), .min = 0, .max = 256,
     .help = "fewest drafted tokens worth a verification pass (a shorter draft: a plain decode step)"},
    {.section = "sampling", .key = "draft_adaptive", .cli = "--draft-fixed", .cli_fixed = "false",
     .field = VKS_FIELD(sampling.draft_adaptive),
     .help = "draft length from the measured acceptance and the measured cost of a pass per row (off: always --draft-max)",
     .flag_help = "always draft --draft-max tokens (no adaptive length)"},
    {.section = "sampling", .key = "raw", .cli = "--raw", .cli_fixed = "true", .field = VKS_FIELD(sampling.raw),
     .help = "raw completion: no chat template"},
    {.section = "sampling", .key = "stats", .cli = "--stats", .cli_fixed = "true",
     .field = VKS_FIELD(sampling.stats), .help = "print tokens/s and the GB/s the weights were read at, after the run"},
    {.section = "sampling", .key = "json", .cli = "--json", .cli_fixed = "true", .field = VKS_FIELD(sampling.json),
     .help = "generate: one JSON document (text, tokens, stats) instead of streamed text; bench: the report as JSON"},

    // ---- [server] ----------------------------------------------------------------------
    {.section = "server", .key = "host", .cli = "--host", .metavar = "<addr>", .field = VKS_FIELD(server.host),
     .help = "serve: the address to listen on (0.0.0.0: every interface; then set --api-key)"},
    {.section = "server", .key = "port", .cli = "--port", .metavar = "<n>", .field = VKS_FIELD(server.port), .min = 0, .max = 65535,
     .help = "serve: the TCP port (0: any free port, printed on start)"},
    {.section = "server", .key = "api_key", .cli = "--api-key", .env = "VK_SYMBIOTE_API_KEY", .metavar = "<key>",
     .field = VKS_FIELD(server.api_key),
     .help = "serve: every endpoint but /health answers 401 without the header 'Authorization: Bearer <key>' (empty: no key)"},
    {.section = "server", .key = "max_body_mb", .cli = "--max-body-mb", .metavar = "<mb>", .field = VKS_FIELD(server.max_body_mb),
     .min = 1.0 / 1024, .max = 4096, .help = "serve: largest request body in MB (larger ones answer 413)"},
    {.section = "server", .key = "max_tokens_limit", .cli = "--max-tokens-limit", .metavar = "<n>",
     .field = VKS_FIELD(server.max_tokens_limit), .min = 1, .max = 1 << 24,
     .help = "serve: largest max_tokens a request may ask for (more: 400); a request without one gets --max-tokens"},
    {.section = "server", .key = "max_queue", .cli = "--max-queue", .metavar = "<n>", .field = VKS_FIELD(server.max_queue),
     .min = 0, .max = 1 << 20, .help = "serve: requests that may wait beyond --parallel (more answer 503)"},
    {.section = "server", .key = "prompt_cache", .cli = "--prompt-cache", .metavar = "<n>", .field = VKS_FIELD(server.prompt_cache),
     .min = 0, .max = 4096,
     .help = "serve: finished requests whose KV cache is kept, so that a later request starting with the same tokens (a chat's "
             "next turn) computes only the rest; least recently used first out, and out whenever a request waits for KV blocks (0: none)"},
    {.section = "server", .key = "template_file", .cli = "--template-file", .metavar = "<path>",
     .field = VKS_FIELD(server.template_file), .help = "template: the Jinja chat template to render (at most 1 MiB)"},
    {.section = "server", .key = "vars_file", .cli = "--vars-file", .metavar = "<path>", .field = VKS_FIELD(server.vars_file),
     .help = "template: a JSON object of template variables (messages, add_generation_prompt, bos_token, ...)"},
    {.section = "server", .key = "date", .cli = "--date", .metavar = "<yyyy-mm-dd>", .field = VKS_FIELD(server.date),
     .help = "template: the date strftime_now() formats, at midnight (empty: now)"},

    // ---- [pipeline] (docs/pipeline.md) ---------------------------------------------------
    {.section = "pipeline", .key = "enabled", .cli = "--pipeline", .cli_fixed = "true", .field = VKS_FIELD(pipeline.enabled),
     .help = "one rank of a pipeline started by mpirun (generate, perplexity, serve): each rank holds a contiguous range of layers, only activations cross"},
    {.section = "pipeline", .key = "budgets", .cli = "--budgets", .metavar = "<list>", .field = VKS_FIELD(pipeline.budgets),
     .help = "per-rank VRAM:RAM[:SPEED] in GiB, e.g. 4:16,8:32 (empty: each rank's own --vram-gb / --ram-gb); layers split in proportion"},
    {.section = "pipeline", .key = "timeout_s", .cli = "--pipeline-timeout", .metavar = "<s>", .field = VKS_FIELD(pipeline.timeout_s),
     .min = 0.1, .max = 86400, .help = "seconds one rank waits for another before ending every rank with an error naming it (an idle serve pings every quarter of it)"},
};

#undef VKS_FIELD
#undef VKS_PRESENCE

const char* const kSections[] = {"model", "memory", "performance", "tuning", "logging", "sampling", "server", "pipeline"};

}  // namespace


std::span<const OptionSpec> option_table() { return kOptions; }
std::span<const char* const> option_sections() { return kSections; }

const OptionSpec* find_option(std::string_view section, std::string_view key) {
    for (const OptionSpec& o : kOptions)
        if (section == o.section && key == o.key) return &o;
    return nullptr;
}

const OptionSpec* find_option(std::string_view dotted) {
    size_t dot = dotted.find('.');
    if (dot == std::string_view::npos) return nullptr;
    return find_option(dotted.substr(0, dot), dotted.substr(dot + 1));
}

const OptionSpec* find_cli_option(std::string_view flag) {
    for (const OptionSpec& o : kOptions)
        if ((o.cli && flag == o.cli) || (o.cli_short && flag == o.cli_short)) return &o;
    return nullptr;
}

bool is_known_section(std::string_view section) {
    return std::any_of(std::begin(kSections), std::end(kSections), [&](const char* s) { return section == s; });
}

}  // namespace vk_symbiote::config
