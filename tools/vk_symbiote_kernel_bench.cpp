// vk_symbiote_kernel_bench: GPU time of the weight kernels (op_matmul, op_matmul_rope,
// op_swiglu) on Llama-2-7B shapes, against the device's memory bandwidth (n_tokens 1:
// weight GB/s) and arithmetic (n_tokens > 1: TFLOPS = 2 * rows * cols * n_tokens / s).
//
//   vk_symbiote_kernel_bench [--dtype f16|bf16|f32] [--tokens 1,512] [--reps 20] [--wg X Y]
//
// Each case records `reps` dispatches (with barriers, like the forward pass) in one command
// buffer and divides the GPU timestamp time by reps. Output: one line per case on stdout.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOps.h"
#include "common/HalfFloat.h"

using namespace vk_symbiote;

namespace {

struct Args {
    DType dtype = DType::F16;
    std::vector<uint32> tokens = {1, 512};
    uint32 reps = 20;
    ShaderSpecialization spec;
};

bool parse(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (s == "--dtype") {
            const char* v = next();
            if (!v) return false;
            std::string d = v;
            if (d == "f16") a.dtype = DType::F16;
            else if (d == "bf16") a.dtype = DType::BF16;
            else if (d == "f32") a.dtype = DType::F32;
            else return false;
        } else if (s == "--tokens") {
            const char* v = next();
            if (!v) return false;
            a.tokens.clear();
            for (const char* p = v; *p;) {
                char* end = nullptr;
                const unsigned long n = std::strtoul(p, &end, 10);
                if (end == p || n == 0) return false;
                a.tokens.push_back(uint32(n));
                p = *end == ',' ? end + 1 : end;
            }
        } else if (s == "--reps") {
            const char* v = next();
            if (!v || std::atoi(v) <= 0) return false;
            a.reps = uint32(std::atoi(v));
        } else if (s == "--wg") {
            const char* x = next();
            const char* y = next();
            if (!x || !y) return false;
            a.spec.workgroup_size_x = uint32(std::atoi(x));
            a.spec.workgroup_size_y = uint32(std::atoi(y));
        } else {
            return false;
        }
    }
    return true;
}

// Random weights of rows x cols in dtype (values ~N(0, 0.02), like trained weights).
std::vector<uint8> random_weight(uint32 rows, uint32 cols, DType t, uint64 seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.02f);
    const size_t n = size_t(rows) * cols;
    std::vector<uint8> out(n * dtype_size(t));
    for (size_t i = 0; i < n; ++i) {
        const float v = d(rng);
        if (t == DType::F32) {
            std::memcpy(&out[i * 4], &v, 4);
        } else {
            const uint16 b = t == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(&out[i * 2], &b, 2);
        }
    }
    return out;
}

struct Bench {
    std::unique_ptr<VulkanDevice> dev;
    std::unique_ptr<VulkanMemory> mem;
    std::unique_ptr<VulkanCompute> compute;
    std::unique_ptr<ShaderRuntime> rt;
    std::vector<GpuBuffer> owned;

    Expected<GpuBuffer> buffer(uint64 bytes) {
        auto b = mem->create_buffer(bytes, MemoryKind::DeviceLocal);
        if (b) owned.push_back(*b);
        return b;
    }
    Expected<DeviceWeight> weight(uint32 rows, uint32 cols, DType t, uint64 seed) {
        auto bytes = random_weight(rows, cols, t, seed);
        auto b = buffer(bytes.size());
        if (!b) return b.error();
        VKS_TRY(compute->upload(bytes.data(), bytes.size(), b->buffer, 0));
        return DeviceWeight{t, rows, cols, {WeightPiece{b->buffer, 0, rows, 0, 0}}};
    }
    // Seconds per call of fn (GPU timestamps), fn recorded `reps` times in one submission.
    template <class Fn>
    Expected<double> time(const Args& a, Fn&& fn) {
        for (int pass = 0; pass < 2; ++pass) {  // pass 0 warms up (pipelines, clocks)
            auto cmd = compute->begin();
            if (!cmd) return cmd.error();
            rt->begin(*cmd);
            OpContext c{*rt, a.spec, owned[0].buffer, dev->caps().max_workgroup_count[0]};
            for (uint32 r = 0; r < a.reps; ++r) {
                VKS_TRY(fn(c));
                rt->barrier();
            }
            VKS_TRY(compute->submit_and_wait());
        }
        return double(compute->last_gpu_time_ns()) * 1e-9 / a.reps;
    }
};

ExpectedVoid run(const Args& a) {
    Bench b;
    auto d = VulkanDevice::create({});
    if (!d) return d.error();
    b.dev = std::move(*d);
    auto m = VulkanMemory::create(*b.dev);
    if (!m) return m.error();
    b.mem = std::move(*m);
    auto c = VulkanCompute::create(*b.dev, *b.mem, uint64(64) << 20, 2, true);
    if (!c) return c.error();
    b.compute = std::move(*c);
    auto r = ShaderRuntime::create(*b.dev, {});
    if (!r) return r.error();
    b.rt = std::move(*r);
    VKS_TRY(b.buffer(256));  // dummy binding
    std::printf("device: %s, dtype %s, reps %u\n", b.dev->caps().device_name.c_str(), dtype_name(a.dtype), a.reps);

    const uint32 dim = 4096, ff = 11008, max_tok = 512;
    auto wq = b.weight(dim, dim, a.dtype, 1);
    auto wg = b.weight(ff, dim, a.dtype, 2);
    auto wu = b.weight(ff, dim, a.dtype, 3);
    auto wd = b.weight(dim, ff, a.dtype, 4);
    if (!wq || !wg || !wu || !wd) return make_error(ErrorCode::OutOfMemory, "kernel bench: weight upload failed");
    std::vector<float> xs(size_t(max_tok) * ff);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : xs) v = nd(rng);
    auto x = b.buffer(xs.size() * 4);
    auto y = b.buffer(size_t(max_tok) * ff * 4);
    if (!x || !y) return make_error(ErrorCode::OutOfMemory, "kernel bench: activation buffers");
    VKS_TRY(b.compute->upload(xs.data(), xs.size() * 4, x->buffer, 0));
    auto tab = rope_table(max_tok, 128, 10000.0f, 1.0f);
    auto tb = b.buffer(tab.size() * 4);
    if (!tb) return tb.error();
    VKS_TRY(b.compute->upload(tab.data(), tab.size() * 4, tb->buffer, 0));

    auto report = [&](const char* name, const DeviceWeight& w, uint32 n, uint32 matrices, Expected<double> s) -> ExpectedVoid {
        if (!s) return s.error();
        const double bytes = double(w.rows) * w.cols * dtype_size(w.dtype) * matrices;
        const double flops = 2.0 * w.rows * w.cols * n * matrices;
        std::printf("%-8s %5ux%-5u n=%-4u %9.1f us  %7.1f GB/s  %6.2f TFLOPS  (%.0f tokens/s per matrix)\n", name, w.rows,
                    w.cols, n, *s * 1e6, bytes / *s * 1e-9, flops / *s * 1e-12, n / *s);
        return {};
    };
    for (uint32 n : a.tokens) {
        if (n > max_tok) return make_error(ErrorCode::InvalidArgument, "--tokens: at most 512");
        for (const DeviceWeight* w : {&*wq, &*wg, &*wd}) {
            const ActView xv{x->buffer, 0, w->cols}, yv{y->buffer, 0, w->rows};
            VKS_TRY(report("matmul", *w, n, 1, b.time(a, [&](OpContext& ctx) { return op_matmul(ctx, *w, xv, yv, n, false); })));
        }
        const RopeConfig rc{0, 128, 128, false, 10000.0f, 1.0f, tb->buffer, false};
        VKS_TRY(report("rope", *wq, n, 1, b.time(a, [&](OpContext& ctx) {
                           return op_matmul_rope(ctx, *wq, {x->buffer, 0, dim}, {y->buffer, 0, dim}, n, rc);
                       })));
        VKS_TRY(report("swiglu", *wg, n, 2, b.time(a, [&](OpContext& ctx) {
                           return op_swiglu(ctx, *wg, *wu, {x->buffer, 0, dim}, {y->buffer, 0, ff}, n);
                       })));
    }
    b.rt.reset();
    for (auto& buf : b.owned) b.mem->destroy_buffer(buf);
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse(argc, argv, a)) {
        std::fprintf(stderr, "usage: vk_symbiote_kernel_bench [--dtype f16|bf16|f32] [--tokens 1,512] [--reps N] [--wg X Y]\n");
        return 2;
    }
    auto r = run(a);
    if (!r) {
        std::fprintf(stderr, "vk_symbiote_kernel_bench: %s\n", r.error().to_string().c_str());
        return 1;
    }
    return 0;
}
