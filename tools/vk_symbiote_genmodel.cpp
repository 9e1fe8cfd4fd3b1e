// vk_symbiote_genmodel: writes a random-weight model of a named shape (Llama 2 / 3 / 3.1, Mistral,
// Qwen2.5, Qwen3, Gemma 2 / 3 and Phi-3 layouts: each family's tensors, keys and chat tokens) as a
// GGUF file, or a Llama-family shape as a Hugging Face folder (the same weights from the same seed).
//
//   vk_symbiote_genmodel --shape llama2-7b --dtype f16 --out PATH [--seed N] [--layers N]
//                        [--format gguf|hf] [--shard-size SIZE] [--router-skew S] [--copy-cycle N]
//
// Shows a progress bar when stderr is a terminal, otherwise a line every ~5% so CI logs
// stay short. Prints the achieved write speed at the end.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "common/TempFiles.h"
#include "model/HfModelGenerator.h"
#include "model/ModelGenerator.h"

using namespace vk_symbiote;

namespace {

void usage(FILE* f) {
    std::string names;
    for (auto& n : model_shape_preset_names()) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(f,
                 "usage: vk_symbiote_genmodel --shape NAME --dtype f32|f16|bf16 --out PATH [--seed N] [--layers N]\n"
                 "                            [--format gguf|hf] [--shard-size SIZE] [--router-skew S] [--copy-cycle N]\n"
                 "  --shape       one of: %s\n"
                 "  --dtype       weight type of the matrices (GGUF norm and bias vectors are always f32; a folder\n"
                 "                stores them in this type, as transformers does)\n"
                 "  --out         output file (written to PATH.tmp, renamed when complete), or with\n"
                 "                --format hf the folder to write (created if missing)\n"
                 "  --seed        random seed (default 1); the same seed gives the same weights\n"
                 "  --layers      override the shape's layer count (e.g. a 2-layer 7B-wide model)\n"
                 "  --router-skew mixtures of experts (mixtral-8x7b, qwen3-30b-a3b, tiny-moe): routers that\n"
                 "                prefer a few experts, more so the larger S (1-2 concentrates a Mixtral-wide\n"
                 "                router on a few experts; default 0: the random routers alone)\n"
                 "  --copy-cycle  N >= 2: a repetitive model for speculative decoding: greedy decoding follows a\n"
                 "                fixed cycle of N tokens (written as vk_symbiote.copy_cycle; the benchmark's --ngram\n"
                 "                prompt is that cycle). The head is the embedding with rows permuted and the\n"
                 "                layers' input norms are small; every matrix is still random and full size, so\n"
                 "                a pass costs what a plain model's does (gguf only, untied heads)\n"
                 "  --format      gguf (default) or hf: a Hugging Face folder (config.json, safetensors)\n"
                 "  --shard-size  hf only: largest shard, e.g. 5GB (default, as transformers), 500MB, 2GiB;\n"
                 "                weights above it are split into model-0000k-of-0000n.safetensors + index\n",
                 names.c_str());
}

bool parse_u64(const char* s, uint64& out) {
    if (!s || !*s) return false;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-') return false;
    out = v;
    return true;
}

// A byte count with an optional unit: 5GB, 500MB, 64KB (powers of 1000), 2GiB, 512MiB, 64KiB.
bool parse_size(const char* s, uint64& out) {
    if (!s || !*s || s[0] == '-') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s) return false;
    const std::pair<const char*, uint64> units[] = {{"", 1},           {"B", 1},            {"KB", 1000},        {"MB", 1000000},
                                                    {"GB", 1000000000}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
    for (auto [unit, scale] : units)
        if (std::strcmp(end, unit) == 0) return !__builtin_mul_overflow(uint64(v), scale, &out) && out > 0;
    return false;
}

struct Args {
    std::string shape, dtype, out, format = "gguf";
    uint64 seed = 1;
    bool has_layers = false;
    uint64 layers = 0;
    bool has_shard_size = false;
    uint64 shard_size = kDefaultHfShardBytes;
    float router_skew = 0.0f;
    uint64 copy_cycle = 0;
};

// One option and its value; false (message printed) when the value is bad.
bool take_option(Args& a, const std::string& opt, const char* val) {
    auto fail = [&](const char* what) {
        std::fprintf(stderr, "vk_symbiote_genmodel: %s: '%s' %s\n", opt.c_str(), val, what);
        return false;
    };
    if (opt == "--shape") a.shape = val;
    else if (opt == "--dtype") a.dtype = val;
    else if (opt == "--out") a.out = val;
    else if (opt == "--format") a.format = val;
    else if (opt == "--seed") return parse_u64(val, a.seed) || fail("is not a non-negative integer");
    else if (opt == "--layers") {
        a.has_layers = parse_u64(val, a.layers) && a.layers >= 1 && a.layers <= 4096;
        return a.has_layers || fail("is not an integer in 1..4096");
    } else if (opt == "--router-skew") {
        char* end = nullptr;
        a.router_skew = std::strtof(val, &end);
        return (end != val && *end == '\0' && a.router_skew >= 0.0f && a.router_skew <= 1000.0f) || fail("is not a number in [0, 1000]");
    } else if (opt == "--copy-cycle") {
        return (parse_u64(val, a.copy_cycle) && a.copy_cycle >= 2 && a.copy_cycle <= (1u << 22)) || fail("is not an integer >= 2");
    } else if (opt == "--shard-size") {
        a.has_shard_size = parse_size(val, a.shard_size);
        return a.has_shard_size || fail("is not a positive size (e.g. 5GB, 500MB, 2GiB)");
    }
    return true;
}

// Returns 0 on success, 1 on a usage error (message printed), 2 for --help.
int parse_args(int argc, char** argv, Args& a) {
    static const char* const kValued[] = {"--shape", "--dtype", "--out", "--format", "--seed", "--layers", "--shard-size", "--router-skew", "--copy-cycle"};
    for (int k = 1; k < argc; ++k) {
        const std::string opt = argv[k];
        if (opt == "--help" || opt == "-h") return 2;
        if (std::none_of(std::begin(kValued), std::end(kValued), [&](const char* o) { return opt == o; })) {
            std::fprintf(stderr, "vk_symbiote_genmodel: unknown option '%s'\n", opt.c_str());
            return 1;
        }
        if (k + 1 >= argc) {
            std::fprintf(stderr, "vk_symbiote_genmodel: option %s needs a value\n", opt.c_str());
            return 1;
        }
        if (!take_option(a, opt, argv[++k])) return 1;
    }
    const char* problem = a.shape.empty() || a.dtype.empty() || a.out.empty() ? "--shape, --dtype and --out are required"
                          : a.format != "gguf" && a.format != "hf"           ? "--format must be gguf or hf"
                          : a.has_shard_size && a.format != "hf"             ? "--shard-size applies to --format hf only"
                          : a.copy_cycle > 0 && a.format != "gguf"           ? "--copy-cycle applies to --format gguf only (the cycle is a GGUF key)"
                                                                             : nullptr;
    if (problem) std::fprintf(stderr, "vk_symbiote_genmodel: %s\n", problem);
    return problem ? 1 : 0;
}

// Progress reporting: a redrawn bar on a terminal, a line per ~5% otherwise.
class Progress {
public:
    explicit Progress(bool tty) : tty_(tty), start_(std::chrono::steady_clock::now()) {}

    void operator()(uint64 done, uint64 total) {
        double frac = total ? double(done) / double(total) : 1.0;
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        double gbs = secs > 0 ? double(done) / secs / 1e9 : 0.0;
        if (tty_) {
            constexpr int kWidth = 40;
            int fill = int(frac * kWidth);
            std::fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %.2f / %.2f GB  %.2f GB/s ", fill, "########################################",
                         kWidth - fill, "", frac * 100, done / 1e9, total / 1e9, gbs);
            if (done == total) std::fprintf(stderr, "\n");
        } else {
            int step = int(frac * 20);  // 5% steps
            if (step == last_step_ && done != total) return;
            last_step_ = step;
            std::fprintf(stderr, "genmodel: %5.1f%%  %.2f / %.2f GB  %.2f GB/s\n", frac * 100, done / 1e9, total / 1e9, gbs);
        }
        std::fflush(stderr);
    }

private:
    bool tty_;
    int last_step_ = -1;
    std::chrono::steady_clock::time_point start_;
};

// Bytes of weights (hf) or of the whole file (gguf) the run writes.
uint64 model_bytes(const Args& a, const ModelShape& shape, DType dt) {
    if (a.format != "hf") return generated_model_bytes(shape, dt);
    uint64 n = 0;
    auto tensors = hf_tensors_for_shape(shape, dt, a.seed);
    if (tensors)
        for (const auto& t : *tensors) n += t.byte_size();
    return n;
}

ExpectedVoid write_model(const Args& a, const ModelShape& shape, DType dt, const ProgressFn& progress) {
    if (a.format == "hf") return generate_hf_model(shape, dt, a.out, a.seed, a.shard_size, progress);
    auto r = generate_model(shape, dt, a.out, a.seed, progress);
    if (!r) return r.error();
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    install_temp_file_cleanup();  // SIGPIPE / Ctrl-C while writing leave no .tmp
    Args a;
    int pr = parse_args(argc, argv, a);
    if (pr == 2) { usage(stdout); return 0; }
    if (pr != 0) { usage(stderr); return 2; }

    auto shape = model_shape_preset(a.shape);
    if (!shape) { std::fprintf(stderr, "vk_symbiote_genmodel: --shape: %s\n", shape.error().message.c_str()); return 2; }
    DType dt;
    if (a.dtype == "f32") dt = DType::F32;
    else if (a.dtype == "f16") dt = DType::F16;
    else if (a.dtype == "bf16") dt = DType::BF16;
    else { std::fprintf(stderr, "vk_symbiote_genmodel: --dtype: '%s' is not f32, f16 or bf16\n", a.dtype.c_str()); return 2; }
    if (a.has_layers) {
        shape->n_layer = uint32(a.layers);
        shape->name += "-" + std::to_string(a.layers) + "l";
    }
    shape->router_skew = a.router_skew;  // validated with the shape: it needs experts
    shape->copy_cycle = uint32(a.copy_cycle);  // validated with the shape (vocabulary, untied head)
    if (a.copy_cycle > 0) shape->name += "-cycle" + std::to_string(a.copy_cycle);

    const uint64 bytes = model_bytes(a, *shape, dt);
    std::fprintf(stderr, "genmodel: %s %s seed=%llu -> %s%s (%.3f GB)\n", shape->name.c_str(), dtype_name(dt), (unsigned long long)a.seed,
                 a.out.c_str(), a.format == "hf" ? " (Hugging Face folder)" : "", bytes / 1e9);
    Progress progress(::isatty(STDERR_FILENO) == 1);
    auto t0 = std::chrono::steady_clock::now();
    auto r = write_model(a, *shape, dt, [&](uint64 d, uint64 t) { progress(d, t); });
    if (!r) {
        std::fprintf(stderr, "vk_symbiote_genmodel: %s\n", r.error().to_string().c_str());
        return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s: %llu bytes in %.2f s (%.2f GB/s)\n", a.out.c_str(), (unsigned long long)bytes, secs, secs > 0 ? bytes / secs / 1e9 : 0.0);
    return 0;
}
