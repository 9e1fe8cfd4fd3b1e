// The benchmark command: prompt processing and generation speed, measured against this
// machine's own limits (disk, RAM, bus and device bandwidth probed at start, cached per
// machine). Every performance claim of the project comes from it. Run as
// vk_symbiote_benchmark or as `vk_symbiote bench` (BenchCommand.h).
//
//   [--model PATH | --shape llama2-7b [--dtype f16] [--layers N]] [-p 512] [-n 128] [--parallel 1,4,16]
//   [-r 3] [--reprobe] [--no-warmup] [--json] [every engine option]
//
// Benchmark options are taken out of the command line first; the rest goes to the
// ConfigManager (--vram-gb, --ram-gb, --disable-gpu, --threads, --cache-dir, ...).
// stdout carries the report (table, or JSON with --json); progress and logs go to stderr.
#include "bench/BenchCommand.h"
#include "bench/PipelineBench.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <string>
#include <vector>

#include "bench/BenchReport.h"
#include "probe/Probes.h"
#include "common/Progress.h"
#include "probe/VulkanProbe.h"
#include "bench/SpeculativeBench.h"
#include "bench/Workload.h"
#include "engine/CliSupport.h"
#include "model/LoadedModel.h"
#include "memory/MemoryStats.h"
#include "model/KvLayout.h"
#include "model/CopyCycle.h"
#include "model/ModelConfig.h"
#include "model/ModelGenerator.h"
#include "model/TensorRegistry.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::bench {

using namespace vk_symbiote::probe;

namespace {

const char* kLog = "bench";  // prefix of progress lines on stderr
const char* kToolVersion = "0.1.0";  // project(vk_symbiote VERSION ...) in CMakeLists.txt

struct BenchArgs {
    std::string shape;
    std::string dtype = "f16";
    uint32 layers = 0;  // 0: the shape's own layer count
    uint32 n_prompt = 512;
    uint32 n_gen = 128;
    std::vector<uint32> parallel;  // --parallel: sequences of each parallel generation test
    std::vector<uint32> verify_k;  // --verify-k: drafted tokens of each timed verification pass
    uint32 n_ngram = 0;            // --ngram: tokens of the repetitive workload, plain and drafted
    uint32 reps = 3;
    bool reprobe = false;
    bool warmup = true;
    bool help = false;
    std::vector<std::string> rest;  // for the ConfigManager (argv[0] first)
};

void print_usage(const char* program) {
    std::string shapes;
    for (auto& n : model_shape_preset_names()) shapes += (shapes.empty() ? "" : ", ") + n;
    std::printf(
        "Usage: %s [--model PATH | --shape NAME [--dtype f16] [--layers N]] [-p N] [-n N] [--parallel S,...] [-r N] [--json] [OPTIONS]\n\n"
        "Examples:\n"
        "  %s --model llama2-7b-f16.gguf --vram-gb 4\n"
        "  %s --shape llama2-7b --dtype f16 -p 512 -n 128 --json\n\n"
        "Benchmark options:\n"
        "  --shape NAME     benchmark a random-weight model of this shape, generated once into\n"
        "                   <cache dir>/models and reused: %s\n"
        "  --dtype T        weight type of the generated model: f16 (default), bf16, f32\n"
        "  --layers N       the generated model with N layers instead of the shape's (1..4096)\n"
        "  -p N             prompt processing test of N tokens (default 512, 0 = skip; logits of the\n"
        "                   last position only, as after a prompt and in llama-bench)\n"
        "  -n N             generation test of N tokens (default 128, 0 = skip)\n"
        "  --parallel S,... parallel generation tests: S sequences of -n tokens each at once, one\n"
        "                   forward pass per step over all of them (aggregate and per-sequence\n"
        "                   tokens/s, TTFT, weight bytes per step and per token); a KV cache for\n"
        "                   all S unless --kv-pool-tokens is given\n"
        "  --verify-k K,... speculative decoding: time one verification pass over 1 + k rows for each\n"
        "                   k (and k = 0, a plain decode pass); tokens/s at acceptance 0.5 / 0.7 / 0.9\n"
        "                   computed from those times\n"
        "  --ngram N        speculative decoding: N tokens on a repetitive prompt (--prompt, else the\n"
        "                   cycle of a genmodel --copy-cycle model, else 32 random tokens said 4 times),\n"
        "                   plain and with n-gram drafts (--draft-max ...) in\n"
        "                   the same run: measured tokens/s, tokens per pass, drafted / accepted\n"
        "  -r N             timed repetitions of each test (default 3); median, min and max reported\n"
        "  --reprobe        measure the machine's bandwidth ceilings again (else cached per machine)\n"
        "  --no-warmup      skip the untimed warm-up run of each test\n"
        "  --json           print the report as JSON (fields: docs/benchmark-json.md)\n"
        "  --cache-dir DIR  where probes.json and generated models live (default $XDG_CACHE_HOME/vk_symbiote\n"
        "                   or ~/.cache/vk_symbiote)\n\n",
        program, program, program, shapes.c_str());
}

bool parse_u32(const char* s, uint32& out) {
    if (!s || !*s || s[0] == '-') return false;
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 0xffffffffUL) return false;
    out = uint32(v);
    return true;
}

// "1,4,16" -> {1, 4, 16}: positive integers separated by commas.
ExpectedVoid parse_u32_list(const std::string& opt, const char* s, std::vector<uint32>& out) {
    const std::string text = s ? s : "";
    out.clear();
    size_t at = 0;
    while (at <= text.size()) {
        const size_t comma = std::min(text.find(',', at), text.size());
        uint32 v = 0;
        const std::string item = text.substr(at, comma - at);
        if (!parse_u32(item.c_str(), v) || v == 0)
            return make_error(ErrorCode::InvalidArgument, opt + ": expected positive integers separated by commas, got '" + text + "'");
        out.push_back(v);
        at = comma + 1;
    }
    return {};
}

ExpectedVoid parse_args(int argc, char** argv, BenchArgs& a) {
    a.rest.push_back(argv[0]);
    for (int k = 1; k < argc; ++k) {
        std::string opt = argv[k];
        const char* val = k + 1 < argc ? argv[k + 1] : nullptr;
        auto need_u32 = [&](uint32& out) -> ExpectedVoid {
            if (!parse_u32(val, out)) return make_error(ErrorCode::InvalidArgument, opt + ": expected a non-negative integer, got '" + (val ? val : "") + "'");
            ++k;
            return {};
        };
        if (opt == "-p") VKS_TRY(need_u32(a.n_prompt));
        else if (opt == "-n") VKS_TRY(need_u32(a.n_gen));
        else if (opt == "--parallel" || opt == "--verify-k") {
            VKS_TRY(parse_u32_list(opt, val, opt == "--parallel" ? a.parallel : a.verify_k));
            ++k;
        } else if (opt == "--ngram") VKS_TRY(need_u32(a.n_ngram));
        else if (opt == "-r") {
            VKS_TRY(need_u32(a.reps));
            if (a.reps == 0) return make_error(ErrorCode::InvalidArgument, "-r: at least one repetition");
        } else if (opt == "--layers") {
            VKS_TRY(need_u32(a.layers));
            if (a.layers == 0 || a.layers > 4096) return make_error(ErrorCode::InvalidArgument, "--layers: expected 1..4096, got " + std::to_string(a.layers));
        } else if (opt == "--shape" || opt == "--dtype") {
            if (!val) return make_error(ErrorCode::InvalidArgument, opt + ": needs a value");
            (opt == "--shape" ? a.shape : a.dtype) = val;
            ++k;
        } else if (opt == "--reprobe") a.reprobe = true;
        else if (opt == "--no-warmup") a.warmup = false;
        else {
            if (opt == "--help" || opt == "-h") a.help = true;
            a.rest.push_back(opt);
        }
    }
    return {};
}

Expected<DType> parse_dtype(const std::string& s) {
    if (s == "f16") return DType::F16;
    if (s == "bf16") return DType::BF16;
    if (s == "f32") return DType::F32;
    return make_error(ErrorCode::InvalidArgument, "--dtype: '" + s + "' is not one of f16, bf16, f32");
}

// The generated model for (shape, dtype, layers), written once into <cache>/models and reused.
Expected<Path> generated_model(const std::string& shape_name, const std::string& dtype_name, uint32 layers, const Path& cache_dir) {
    auto shape = model_shape_preset(shape_name);
    if (!shape) return make_error(shape.error().code, "--shape: " + shape.error().message);
    auto dtype = parse_dtype(dtype_name);
    if (!dtype) return dtype.error();
    const uint64 seed = 1;
    std::string stem = shape_name;
    if (layers > 0) {
        shape->n_layer = layers;
        shape->name += "-" + std::to_string(layers) + "l";
        stem = shape->name;
    }
    Path out = cache_dir / "models" / (stem + "-" + dtype_name + "-seed" + std::to_string(seed) + ".gguf");
    uint64 want = generated_model_bytes(*shape, *dtype);
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && std::filesystem::file_size(out, ec) == want) {
        std::fprintf(stderr, "%s: using cached %s\n", kLog, out.string().c_str());
        return out;
    }
    std::filesystem::create_directories(out.parent_path(), ec);
    if (ec) return make_error(ErrorCode::Io, out.parent_path().string() + ": cannot create: " + ec.message());
    std::fprintf(stderr, "%s: generating %s (%.2f GiB) once, reused by later runs\n", kLog, out.string().c_str(),
                 double(want) / double(uint64(1) << 30));
    ProgressReporter progress("generating " + shape_name + " " + dtype_name);
    auto r = generate_model(*shape, *dtype, out, seed, [&](uint64 done, uint64 total) { progress.update(done, total); });
    if (!r) return r.error();
    progress.finish();
    return *r;
}

// The file the disk probe reads: the model file, or a folder's largest file (its biggest shard).
Path disk_probe_file(const Path& model) {
    std::error_code ec;
    if (!std::filesystem::is_directory(model, ec)) return model;
    Path best = model;
    uint64 most = 0;
    for (const auto& e : std::filesystem::directory_iterator(model, ec)) {
        const uint64 n = e.is_regular_file(ec) ? uint64(e.file_size(ec)) : 0;
        if (n > most) {
            most = n;
            best = e.path();
        }
    }
    return best;
}

Expected<ProbeResults> machine_probes(const ConfigManager& cfg, const Path& model_path, const Path& cache_dir, bool reprobe) {
    const Path model = disk_probe_file(model_path);
    VulkanProbeOptions vo;
    vo.device_index = cfg.performance().device_index;
    vo.prefer_integrated = cfg.performance().force_integrated_gpu;
    auto dev = vulkan_device_name(vo);
    ProbeResults p;
    p.hostname = host_name();
    p.cpu_model = cpu_model_name();
    p.device_name = dev ? *dev : "";
    p.machine_key = machine_key(p.hostname, p.cpu_model, p.device_name);
    ProbeCache cache(cache_dir / "probes.json");
    uint64 model_bytes = std::filesystem::file_size(model);
    DiskProbeOptions disk_opts;
    if (!reprobe) {
        auto cached = cache.load(p.machine_key);
        if (cached) {
            // A disk figure from a smaller file than this one is re-measured on this file.
            if (cached->disk_read.bytes >= std::min(model_bytes, disk_opts.max_bytes)) return *cached;
            std::fprintf(stderr, "%s: re-probing disk read on the larger %s\n", kLog, model.string().c_str());
            auto d = probe_disk_read(model, disk_opts);
            if (!d) return d.error();
            cached->disk_read = *d;
            cached->from_cache = false;
            if (auto s = cache.store(*cached); !s) std::fprintf(stderr, "%s: warning: %s\n", kLog, s.error().message.c_str());
            cached->from_cache = true;
            return *cached;
        }
        if (cached.error().code != ErrorCode::NotFound) std::fprintf(stderr, "%s: warning: %s; probing again\n", kLog, cached.error().message.c_str());
    }
    std::fprintf(stderr, "%s: probing this machine's ceilings (cached in %s)\n", kLog, cache.file().string().c_str());
    p.probed_at = utc_now_iso8601();
    p.cpu_threads = std::max(1u, std::thread::hardware_concurrency());
    auto d = probe_disk_read(model, disk_opts);
    if (!d) return d.error();
    p.disk_read = *d;
    auto h = probe_host_memory();
    if (!h) return h.error();
    p.host_memory = *h;
    auto v = probe_vulkan(vo);
    if (v) {
        p.host_to_device = v->host_to_device;
        p.device_to_host = v->device_to_host;
        p.device_memory = v->device_memory;
        p.device_copy = v->device_copy;
        p.device_f16_matmul = v->device_f16_matmul;
    } else {
        p.host_to_device.note = p.device_to_host.note = p.device_memory.note = p.device_copy.note = p.device_f16_matmul.note = v.error().message;
    }
    if (auto s = cache.store(p); !s) std::fprintf(stderr, "%s: warning: %s\n", kLog, s.error().message.c_str());
    return p;
}

Expected<ModelInfo> describe_model(const Path& path, const std::string& shape, std::unique_ptr<TensorRegistry>& reg_out) {
    auto g = open_model_source(path);
    if (!g) return g.error();
    auto cfg = ModelConfig::from_source(**g);
    if (!cfg) return cfg.error();
    auto reg = TensorRegistry::bind(*cfg, **g);
    if (!reg) return reg.error();
    auto cycle = read_copy_cycle(**g, cfg->n_vocab);
    if (!cycle) return cycle.error();
    ModelInfo m;
    m.copy_cycle = std::move(*cycle);
    m.path = path.string();
    m.name = cfg->name;
    m.architecture = cfg->architecture;
    m.generated_shape = shape;
    m.file_bytes = (*g)->file_size();
    m.weight_bytes = reg->total_bytes();
    m.n_layer = cfg->n_layer;
    m.n_embd = cfg->n_embd;
    m.n_vocab = cfg->n_vocab;
    uint64 biggest = 0;
    for (const TensorDesc& d : reg->tensors())
        if (d.byte_size > biggest) {
            biggest = d.byte_size;
            m.dtype = dtype_name(d.dtype);
        }
    reg_out = std::make_unique<TensorRegistry>(std::move(*reg));
    return m;
}

// One engine per test with a context just large enough for it (as llama-bench gives each
// test its own context): the prompt test's KV cache does not take the VRAM that the
// generation test would keep weights resident in. --ctx-size fixes one context for all
// (one engine).
class TestEngines {
public:
    TestEngines(const ConfigManager& cfg, Path model) : cfg_(cfg), model_(std::move(model)), own_ctx_(cfg.sampling().ctx_size == 0) {}
    // The engine for a test of `ctx` positions per sequence and `sequences` at once (a KV
    // cache of sequences x ctx positions unless --kv-pool-tokens is given); the previous
    // test's engine frees its memory first.
    Expected<VulkanSymbioteEngine*> for_context(uint32 ctx, uint32 sequences = 1) {
        if (engine_ && !own_ctx_) return engine_.get();
        engine_.reset();
        ConfigManager tc = cfg_;
        if (own_ctx_) tc.sampling().ctx_size = ctx;
        // Each sequence holds whole KV blocks: room for all of them at once. One sequence keeps
        // the default (one context, and on the GPU the single-sequence hybrid decode, whose CPU
        // heads attend from RAM; a pool's batched passes keep only the CPU's matrix rows), so tg
        // and pp measure what generate runs.
        const uint32 per_sequence = KvLayout{}.blocks_for(tc.sampling().ctx_size) * kKvBlockPositions;
        if (tc.memory().kv_pool_tokens == 0 && sequences > 1) tc.memory().kv_pool_tokens = sequences * per_sequence;
        auto en = VulkanSymbioteEngine::create(model_, tc);
        if (!en) return en.error();
        engine_ = std::move(*en);
        return engine_.get();
    }
    bool created() const { return engine_ != nullptr; }

private:
    const ConfigManager& cfg_;
    Path model_;
    bool own_ctx_;
    std::unique_ptr<VulkanSymbioteEngine> engine_;
};

void fill_run_config(const ConfigManager& cfg, const BenchArgs& args, RunConfigInfo& c) {
    c.vram_budget_gib = cfg.memory().vram_budget_gb;
    c.ram_budget_gib = cfg.memory().ram_budget_gb;
    c.gpu_enabled = cfg.performance().enable_gpu;
    c.threads = cfg.performance().threads;
    c.repetitions = args.reps;
    c.kernel_profiling = cfg.performance().enable_profiling;
}

// The placement of each test's engine ("pp: ...; tg: ..." when the contexts made them differ).
std::string combined_placement(const std::vector<std::pair<std::string, std::string>>& placements) {
    bool same = true;
    for (const auto& p : placements) same = same && p.second == placements[0].second;
    if (same) return placements.back().second;
    std::string all;
    for (const auto& [test, placement] : placements) all += (all.empty() ? "" : "; ") + test + ": " + placement;
    return all;
}

// --verify-k and --ngram into report.speculative.
// note: told of each engine used (its placement goes into the report).
ExpectedVoid run_speculative(TestEngines& engines, const BenchArgs& args, const WorkloadOptions& wo, BenchReport& report,
                             const std::function<void(const VulkanSymbioteEngine&, const char*)>& note) {
    if (!args.verify_k.empty()) {
        auto engine = engines.for_context(*std::max_element(args.verify_k.begin(), args.verify_k.end()) + 1);
        if (!engine) return engine.error();
        auto v = run_verify_sweep(**engine, args.verify_k, wo);
        if (!v) return v.error();
        report.speculative.verify = std::move(*v);
        note(**engine, "verify");
    }
    if (args.n_ngram > 0) {
        const std::string& text = ConfigManager::instance().sampling().prompt;
        const std::vector<uint32>& cycle = report.model.copy_cycle;
        const uint32 prompt = text.empty() ? repetitive_prompt_tokens(cycle.size()) : 2048;  // a prompt text: its length is known only once tokenized
        auto engine = engines.for_context(prompt + args.n_ngram + 1);
        if (!engine) return engine.error();
        report.speculative.ngram_prompt = repetitive_prompt_description(text, cycle.size());
        auto n = run_ngram_workload(**engine, args.n_ngram, text, cycle, wo, report.speculative.ngram_prompt_tokens);
        if (!n) return n.error();
        report.speculative.ngram = std::move(*n);
        note(**engine, "ngram");
    }
    return {};
}

// Several devices: each device's part after `test`, with its streamed weight bytes and the
// activation bytes it took in per token. The bench never resets the metrics, so the counters
// run from the engine's start: its resident weights' one upload is taken off.
std::vector<std::string> device_lines(const char* test, const PerformanceMetrics& pm) {
    std::vector<std::string> out;
    const double tokens = double(std::max<uint64>(1, pm.total_prompt_tokens + pm.total_generated_tokens));
    char buf[512];
    for (size_t d = 0; d < pm.devices.size(); ++d) {
        const DevicePlacement& p = pm.devices[d];
        std::snprintf(buf, sizeof buf, "%s device %zu %s: layers [%u, %u), %u resident, %u streamed; peak %.3f of %.3f GiB; %.3f MB weights streamed and %.1f KB activations in per token",
                      test, d, p.device.c_str(), p.first_layer, p.first_layer + p.n_layers, p.vram_resident_layers, p.streamed_layers,
                      double(p.peak_vram_bytes) / double(1ull << 30), double(p.vram_budget_bytes) / double(1ull << 30),
                      double(p.weight_bytes_uploaded - std::min(p.weight_bytes_uploaded, p.weight_bytes_resident)) / tokens / 1e6, double(p.activation_bytes_in) / tokens / 1e3);
        out.push_back(buf);
    }
    return out;
}

// The pp and tg tests, each in its engine, into report.workloads; the engines' description,
// backend, placement and VRAM-resident bytes into report.
ExpectedVoid run_tests(TestEngines& engines, const TensorRegistry& reg, const BenchArgs& args, BenchReport& report) {
    WorkloadOptions wo;
    wo.repetitions = args.reps;
    wo.warmup = args.warmup;
    wo.log = [](const std::string& line) { std::fprintf(stderr, "%s: %s\n", kLog, line.c_str()); };
    std::vector<std::pair<std::string, std::string>> placements;
    RunConfigInfo& c = report.config;
    auto note_engine = [&](const VulkanSymbioteEngine& engine, const char* test) {
        const PerformanceMetrics& pm = engine.get_performance_metrics();
        if (c.description.empty()) c.description = engine.describe();
        c.backend = pm.backend;
        placements.push_back({test, pm.placement});
        for (std::string& line : device_lines(test, pm)) c.devices.push_back(std::move(line));
        report.weight_bytes_vram_resident = std::max(report.weight_bytes_vram_resident, pm.weight_bytes_vram_resident);
    };
    const struct {
        const char* name;
        uint32 n_tokens, ctx;
        decltype(&run_generation) run;
    } tests[] = {{"pp", args.n_prompt, args.n_prompt, &run_prompt_processing}, {"tg", args.n_gen, args.n_gen + 1, &run_generation}};
    for (const auto& t : tests) {
        if (t.n_tokens == 0) continue;
        auto engine = engines.for_context(t.ctx);
        if (!engine) return engine.error();
        auto w = t.run(**engine, reg, t.n_tokens, wo, report.probes);
        if (!w) return w.error();
        report.workloads.push_back(std::move(*w));
        note_engine(**engine, t.name);
    }
    for (uint32 s : args.parallel) {
        auto engine = engines.for_context(args.n_gen + 2, s);  // prompt: BOS and one token
        if (!engine) return engine.error();
        auto w = run_parallel_generation(**engine, reg, s, args.n_gen, wo, report.probes);
        if (!w) return w.error();
        report.workloads.push_back(std::move(*w));
        note_engine(**engine, "par");
    }
    VKS_TRY(run_speculative(engines, args, wo, report, note_engine));
    if (!engines.created()) {  // no test: the engine is still created (model checks, placement)
        auto engine = engines.for_context(1);
        if (!engine) return engine.error();
        note_engine(**engine, "-");
    }
    c.placement = combined_placement(placements);
    return {};
}

// Peak VRAM and RSS over the tests, and the file-backed RSS growth since `rss_file_before`
// (call it while the last engine is alive).
void record_memory_peaks(BenchReport& report, uint64 rss_file_before) {
    for (const WorkloadResult& w : report.workloads)
        for (const RunSample& s : w.samples) {
            report.peak_vram_bytes = std::max(report.peak_vram_bytes, s.peak_vram_bytes);
            report.peak_rss_bytes = std::max(report.peak_rss_bytes, s.peak_rss_bytes);
        }
    report.peak_rss_bytes = std::max(report.peak_rss_bytes, peak_rss_bytes());
    if (auto pm = read_process_memory(); pm && pm->rss_file_bytes > rss_file_before) report.rss_file_growth_bytes = pm->rss_file_bytes - rss_file_before;
}

}  // namespace

int run_bench_command(int argc, char** argv, const char* program) {
    BenchArgs args;
    if (auto r = parse_args(argc, argv, args); !r) {
        std::fprintf(stderr, "%s: %s\n(run %s --help for the options)\n", program, r.error().message.c_str(), program);
        return 2;
    }
    if (args.help) print_usage(program);
    ConfigManager& cfg = ConfigManager::instance();
    std::vector<char*> rest;
    for (auto& s : args.rest) rest.push_back(s.data());
    if (int rc = tool::load_config(cfg, int(rest.size()), rest.data(), program); rc >= 0) return rc;

    Path cache_dir = cfg.memory().cache_dir.empty() ? default_cache_dir() : Path(cfg.memory().cache_dir);
    Expected<Path> model = args.shape.empty() ? tool::model_path(cfg) : generated_model(args.shape, args.dtype, args.layers, cache_dir);
    if (!model) return tool::fail(model.error());
    if (cfg.pipeline().enabled) return run_pipeline_bench(cfg, *model, args.n_prompt, args.n_gen, args.parallel);  // under mpirun

    BenchReport report;
    report.tool_version = kToolVersion;
    report.started_at = utc_now_iso8601();
    std::unique_ptr<TensorRegistry> reg;
    auto info = describe_model(*model, args.shape, reg);
    if (!info) return tool::fail(info.error());
    report.model = *info;
    auto probes = machine_probes(cfg, *model, cache_dir, args.reprobe);
    if (!probes) return tool::fail(probes.error());
    report.probes = *probes;

    probe::reset_peak_rss();  // the probes' buffers are not the engine's
    uint64 rss_file_before = 0;
    if (auto pm = read_process_memory()) {
        report.rss_before_engine_bytes = pm->rss_bytes;
        rss_file_before = pm->rss_file_bytes;
    }
    fill_run_config(cfg, args, report.config);
    TestEngines engines(cfg, *model);
    if (auto r = run_tests(engines, *reg, args, report); !r) return tool::fail(r.error());
    record_memory_peaks(report, rss_file_before);  // the last engine still alive

    if (cfg.sampling().json) std::printf("%s\n", to_json(report).dump(2).c_str());
    else std::fputs(format_table(report).c_str(), stdout);
    return 0;
}

}  // namespace vk_symbiote::bench
