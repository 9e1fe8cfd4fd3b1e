// vk_symbiote_codec_bench: compression ratio and decompression speed of every pack codec
// on weight-like data, per dtype:
//   stories260K   the real stories260K weights (all tensors, f32 in the file) converted
//                 to f32 / f16 / bf16
//   normal        random N(0, 0.02) weights (7B-like statistics), --mb MiB per dtype
// Data is cut into packs of --pack-mb MiB. Decompression is timed on one thread (GB/s
// per core) and with --threads threads decoding different packs at once (all cores),
// the way the I/O threads use codecs. GB/s counts uncompressed bytes produced.
//
// usage: vk_symbiote_codec_bench [--json] [--mb N] [--pack-mb N] [--threads N]
//                                [--codecs a,b,...] [--model path] [--min-seconds S]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include <nlohmann/json.hpp>

#include "compression/CodecSamples.h"
#include "compression/Compression.h"
#include "gguf/GGUFLoader.h"

using namespace vk_symbiote;

namespace {

struct Args {
    bool json = false;
    size_t mb = 64;
    double pack_mb = 8;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::string> codecs = canonical_codec_names();
    Path model = Path(VKS_SHARED_DIR) / "models" / "stories260K.gguf";
    double min_seconds = 0.3;  // each timing repeats until at least this long
};

struct Dataset {
    std::string name;
    DType dtype;
    std::vector<uint8> bytes;
};

struct Row {
    std::string dataset, codec;
    DType dtype;
    uint64 raw = 0, compressed = 0;
    double compress_gbs = 0;     // wall clock, one thread
    double decode_gbs_cpu = 0;   // per core: bytes / thread CPU seconds (robust on a busy machine)
    double decode_gbs_1 = 0;     // one thread, wall clock
    double decode_gbs_all = 0;   // --threads threads, wall clock
};

struct DecodeTiming {
    double wall_gbs = -1;  // -1: a decode failed or produced different bytes
    double cpu_gbs = -1;
};

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

Expected<Args> parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto need = [&](const char* what) -> Expected<std::string> {
            if (i + 1 >= argc) return make_error(ErrorCode::InvalidArgument, k + ": missing " + what);
            return std::string(argv[++i]);
        };
        if (k == "--json") { a.json = true; continue; }
        auto v = need("value");
        if (!v) return v.error();
        try {
            if (k == "--mb") a.mb = std::stoul(*v);
            else if (k == "--pack-mb") a.pack_mb = std::stod(*v);
            else if (k == "--threads") a.threads = unsigned(std::max(1ul, std::stoul(*v)));
            else if (k == "--min-seconds") a.min_seconds = std::stod(*v);
            else if (k == "--model") a.model = *v;
            else if (k == "--codecs") {
                a.codecs.clear();
                for (size_t p = 0; p <= v->size();) {
                    size_t q = v->find(',', p);
                    if (q == std::string::npos) q = v->size();
                    a.codecs.push_back(v->substr(p, q - p));
                    p = q + 1;
                }
            } else return make_error(ErrorCode::InvalidArgument, "unknown option " + k);
        } catch (const std::exception&) {
            return make_error(ErrorCode::InvalidArgument, k + ": bad number '" + *v + "'");
        }
    }
    if (a.pack_mb <= 0) return make_error(ErrorCode::InvalidArgument, "--pack-mb must be > 0");
    return a;
}

// Every tensor of the model as f32 values, concatenated.
Expected<std::vector<float>> model_f32(const Path& path) {
    auto g = GGUFLoader::open(path);
    if (!g) return g.error();
    std::vector<float> all;
    for (const auto& t : (*g)->tensors()) {
        if (t.dtype != DType::F32) return make_error(ErrorCode::Unsupported, path.string() + ": tensor " + t.name + " is not f32");
        auto b = (*g)->read_tensor(t.name);
        if (!b) return b.error();
        const size_t at = all.size();
        all.resize(at + b->size() / 4);
        std::memcpy(all.data() + at, b->data(), b->size() / 4 * 4);
    }
    return all;
}

// Decodes all `frames` `threads`-wide (pack i on thread i % threads), repeated until
// min_seconds passed. GB/s of produced bytes over wall time and over summed thread
// CPU time.
DecodeTiming time_decode(const std::vector<std::vector<uint8>>& frames, const std::vector<std::span<const uint8>>& packs,
                   unsigned threads, double min_seconds) {
    std::vector<std::vector<uint8>> out(packs.size());
    for (size_t i = 0; i < packs.size(); ++i) out[i].resize(packs[i].size());
    uint64 raw = 0;
    for (const auto& p : packs) raw += p.size();
    std::atomic<bool> bad{false};
    std::vector<double> cpu(threads, 0.0);
    int reps = 0;
    const double t0 = now_s();
    do {
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                const double c0 = thread_cpu_s();
                for (size_t i = t; i < frames.size(); i += threads)
                    if (!decompress_frame(frames[i], out[i])) bad = true;
                cpu[t] += thread_cpu_s() - c0;
            });
        for (auto& th : pool) th.join();
        ++reps;
    } while (now_s() - t0 < min_seconds);
    const double dt = now_s() - t0;
    for (size_t i = 0; i < packs.size(); ++i)
        if (std::memcmp(out[i].data(), packs[i].data(), packs[i].size()) != 0) bad = true;
    if (bad) return {};
    double cpu_sum = 0;
    for (double c : cpu) cpu_sum += c;
    return {double(raw) * reps / dt / 1e9, double(raw) * reps / std::max(cpu_sum, 1e-9) / 1e9};
}

Expected<Row> bench_one(const CompressionBackend& codec, const Dataset& ds, const Args& a) {
    const size_t pack = std::max<size_t>(dtype_size(ds.dtype), size_t(a.pack_mb * 1024 * 1024) / 4 * 4);
    std::vector<std::span<const uint8>> packs;
    for (size_t off = 0; off < ds.bytes.size(); off += pack)
        packs.push_back(std::span<const uint8>(ds.bytes).subspan(off, std::min(pack, ds.bytes.size() - off)));
    Row r{ds.name, codec.name(), ds.dtype};
    std::vector<std::vector<uint8>> frames;
    const double t0 = now_s();
    for (const auto& p : packs) {
        auto f = codec.compress(p, ds.dtype);
        if (!f) return f.error();
        r.raw += p.size();
        r.compressed += f->size();
        frames.push_back(std::move(*f));
    }
    r.compress_gbs = double(r.raw) / (now_s() - t0) / 1e9;
    const auto one = time_decode(frames, packs, 1, a.min_seconds);
    const auto all = time_decode(frames, packs, a.threads, a.min_seconds);
    r.decode_gbs_cpu = one.cpu_gbs;
    r.decode_gbs_1 = one.wall_gbs;
    r.decode_gbs_all = all.wall_gbs;
    if (one.wall_gbs < 0 || all.wall_gbs < 0)
        return make_error(ErrorCode::Internal, codec.name() + " on " + ds.name + ": decoded bytes differ");
    return r;
}

// Bits per value if the exponent byte were coded at its order-0 entropy and the rest
// stored raw: the bound the exponent codec is measured against.
double exponent_entropy_ratio(const Dataset& ds) {
    const size_t es = dtype_size(ds.dtype), n = ds.bytes.size() / es;
    std::vector<uint64> hist(256, 0);
    for (size_t i = 0; i < n; ++i) {
        uint32 v = 0;
        std::memcpy(&v, ds.bytes.data() + i * es, es);
        hist[es == 4 ? (v >> 23) & 0xFF : ds.dtype == DType::BF16 ? (v >> 7) & 0xFF : v >> 8]++;
    }
    double h = 0;
    for (uint64 c : hist)
        if (c) h -= double(c) / double(n) * std::log2(double(c) / double(n));
    return (h + 8.0 * double(es - 1)) / (8.0 * double(es));
}

}  // namespace

int main(int argc, char** argv) {
    auto args = parse_args(argc, argv);
    if (!args) { std::fprintf(stderr, "%s\n", args.error().to_string().c_str()); return 2; }
    const Args& a = *args;
    auto model = model_f32(a.model);
    if (!model) { std::fprintf(stderr, "%s\n", model.error().to_string().c_str()); return 1; }
    std::vector<Dataset> sets;
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        sets.push_back({"stories260K", t, convert_f32(model->data(), model->size(), t)});
        sets.push_back({"normal(0,0.02)", t, normal_weights(a.mb * 1024 * 1024 / dtype_size(t), t, 0.02f, 42)});
    }
    nlohmann::json js = nlohmann::json::array();
    if (!a.json)
        std::printf("%-15s %-5s %-14s %7s %7s %9s %11s %10s %10s\n", "dataset", "dtype", "codec", "ratio", "bound",
                    "comp GB/s", "dec GB/s/cpu", "dec 1T", "dec allT");
    for (const auto& ds : sets) {
        const double bound = exponent_entropy_ratio(ds);
        for (const auto& name : a.codecs) {
            auto codec = make_codec(name);
            if (!codec) { std::fprintf(stderr, "%s\n", codec.error().to_string().c_str()); return 2; }
            if (!(*codec)->suits(ds.dtype)) continue;
            auto r = bench_one(**codec, ds, a);
            if (!r) { std::fprintf(stderr, "%s\n", r.error().to_string().c_str()); return 1; }
            const double ratio = double(r->compressed) / double(r->raw);
            if (a.json)
                js.push_back({{"dataset", r->dataset}, {"dtype", dtype_name(r->dtype)}, {"codec", r->codec},
                              {"raw_bytes", r->raw}, {"compressed_bytes", r->compressed}, {"ratio", ratio},
                              {"exponent_entropy_bound", bound}, {"compress_gbs", r->compress_gbs},
                              {"decompress_gbs_per_cpu_second", r->decode_gbs_cpu},
                              {"decompress_gbs_1_thread", r->decode_gbs_1},
                              {"decompress_gbs_all_threads", r->decode_gbs_all}, {"threads", a.threads},
                              {"pack_bytes", size_t(a.pack_mb * 1024 * 1024) / 4 * 4}});
            else
                std::printf("%-15s %-5s %-14s %7.4f %7.4f %9.3f %11.3f %10.3f %10.3f\n", r->dataset.c_str(),
                            dtype_name(r->dtype), r->codec.c_str(), ratio, bound, r->compress_gbs, r->decode_gbs_cpu,
                            r->decode_gbs_1, r->decode_gbs_all);
            std::fflush(stdout);
        }
    }
    if (a.json) std::cout << js.dump(2) << "\n";
    else std::printf("ratio = compressed / original (frames included); bound = order-0 entropy of the exponent "
                     "byte + raw rest;\n"
                     "dec GB/s/cpu = uncompressed bytes per thread-CPU-second (one thread); dec 1T / allT = wall "
                     "clock, 1 and %u threads\n", a.threads);
    return 0;
}
