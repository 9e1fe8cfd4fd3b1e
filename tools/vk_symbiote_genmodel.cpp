// vk_symbiote_genmodel: writes a random-weight Llama-architecture GGUF of a named shape.
//
//   vk_symbiote_genmodel --shape llama2-7b --dtype f16 --out PATH [--seed N] [--layers N]
//
// Shows a progress bar when stderr is a terminal, otherwise a line every ~5% so CI logs
// stay short. Prints the achieved write speed at the end.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/TempFiles.h"
#include "model/ModelGenerator.h"

using namespace vk_symbiote;

namespace {

void usage(FILE* f) {
    std::string names;
    for (auto& n : model_shape_preset_names()) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(f,
                 "usage: vk_symbiote_genmodel --shape NAME --dtype f32|f16|bf16 --out PATH [--seed N] [--layers N]\n"
                 "  --shape   one of: %s\n"
                 "  --dtype   weight type of the matrices (norm vectors are always f32)\n"
                 "  --out     output file (written to PATH.tmp, renamed when complete)\n"
                 "  --seed    random seed (default 1); the same seed gives the same file\n"
                 "  --layers  override the shape's layer count (e.g. a 2-layer 7B-wide model)\n",
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

struct Args {
    std::string shape, dtype, out;
    uint64 seed = 1;
    bool has_layers = false;
    uint64 layers = 0;
};

// Returns 0 on success, 1 on a usage error (message printed), 2 for --help.
int parse_args(int argc, char** argv, Args& a) {
    for (int k = 1; k < argc; ++k) {
        std::string opt = argv[k];
        if (opt == "--help" || opt == "-h") return 2;
        const char* val = k + 1 < argc ? argv[k + 1] : nullptr;
        auto need = [&]() {
            if (!val) std::fprintf(stderr, "vk_symbiote_genmodel: option %s needs a value\n", opt.c_str());
            return val != nullptr;
        };
        if (opt == "--shape") { if (!need()) return 1; a.shape = val; ++k; }
        else if (opt == "--dtype") { if (!need()) return 1; a.dtype = val; ++k; }
        else if (opt == "--out") { if (!need()) return 1; a.out = val; ++k; }
        else if (opt == "--seed") {
            if (!need()) return 1;
            if (!parse_u64(val, a.seed)) { std::fprintf(stderr, "vk_symbiote_genmodel: --seed: '%s' is not a non-negative integer\n", val); return 1; }
            ++k;
        } else if (opt == "--layers") {
            if (!need()) return 1;
            if (!parse_u64(val, a.layers) || a.layers == 0 || a.layers > 4096) {
                std::fprintf(stderr, "vk_symbiote_genmodel: --layers: '%s' is not an integer in 1..4096\n", val);
                return 1;
            }
            a.has_layers = true;
            ++k;
        } else {
            std::fprintf(stderr, "vk_symbiote_genmodel: unknown option '%s'\n", opt.c_str());
            return 1;
        }
    }
    if (a.shape.empty() || a.dtype.empty() || a.out.empty()) {
        std::fprintf(stderr, "vk_symbiote_genmodel: --shape, --dtype and --out are required\n");
        return 1;
    }
    return 0;
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

    const uint64 bytes = generated_model_bytes(*shape, dt);
    std::fprintf(stderr, "genmodel: %s %s seed=%llu -> %s (%.3f GB)\n", shape->name.c_str(), dtype_name(dt), (unsigned long long)a.seed,
                 a.out.c_str(), bytes / 1e9);
    Progress progress(::isatty(STDERR_FILENO) == 1);
    auto t0 = std::chrono::steady_clock::now();
    auto r = generate_model(*shape, dt, a.out, a.seed, [&](uint64 d, uint64 t) { progress(d, t); });
    if (!r) {
        std::fprintf(stderr, "vk_symbiote_genmodel: %s\n", r.error().to_string().c_str());
        return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s: %llu bytes in %.2f s (%.2f GB/s)\n", r->c_str(), (unsigned long long)bytes, secs, secs > 0 ? bytes / secs / 1e9 : 0.0);
    return 0;
}
