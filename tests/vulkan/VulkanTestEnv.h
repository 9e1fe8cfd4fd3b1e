// Shared fixture for Vulkan tests: one device (validation on when VKS_VALIDATION=1 or in
// Debug builds), memory, compute and shader runtime; helpers to put weights and
// activations on the device. Tests skip only when there is no Vulkan device at all.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote::test {

inline bool validation_wanted() {
#ifdef NDEBUG
    return vulkan_validation_requested();
#else
    return true;
#endif
}

inline uint16 f32_to_f16_bits(float f) {
    // Round to nearest even via the compiler's _Float16.
    _Float16 h = static_cast<_Float16>(f);
    uint16 b;
    std::memcpy(&b, &h, 2);
    return b;
}
inline float f16_bits_to_f32(uint16 b) {
    _Float16 h;
    std::memcpy(&h, &b, 2);
    return float(h);
}
inline uint16 f32_to_bf16_bits(float f) {
    uint32 u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return uint16(u >> 16);
}
inline float bf16_bits_to_f32(uint16 b) {
    uint32 u = uint32(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Encodes values in dtype; `values` is replaced by the exactly representable numbers.
inline std::vector<uint8> encode(std::vector<float>& values, DType t) {
    std::vector<uint8> out(values.size() * dtype_size(t));
    for (size_t i = 0; i < values.size(); ++i) {
        if (t == DType::F32) {
            std::memcpy(&out[i * 4], &values[i], 4);
        } else {
            uint16 b = t == DType::F16 ? f32_to_f16_bits(values[i]) : f32_to_bf16_bits(values[i]);
            values[i] = t == DType::F16 ? f16_bits_to_f32(b) : bf16_bits_to_f32(b);
            std::memcpy(&out[i * 2], &b, 2);
        }
    }
    return out;
}

inline double nmse(const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
        den += want[i] * want[i];
    }
    return den == 0 ? num : num / den;
}

class VulkanEnv {
public:
    static VulkanEnv* get() {
        static std::unique_ptr<VulkanEnv> env = [] {
            auto e = std::make_unique<VulkanEnv>();
            VulkanDeviceOptions o;
            o.enable_validation = validation_wanted();
            auto d = VulkanDevice::create(o);
            if (!d) {
                e->skip_reason = d.error().to_string();
                return e;
            }
            e->dev = std::move(*d);
            auto m = VulkanMemory::create(*e->dev);
            if (!m) { e->skip_reason = m.error().to_string(); return e; }
            e->mem = std::move(*m);
            auto c = VulkanCompute::create(*e->dev, *e->mem);
            if (!c) { e->skip_reason = c.error().to_string(); return e; }
            e->compute = std::move(*c);
            auto r = ShaderRuntime::create(*e->dev, {});
            if (!r) { e->skip_reason = r.error().to_string(); return e; }
            e->rt = std::move(*r);
            auto dummy = e->mem->create_buffer(64, MemoryKind::DeviceLocal);
            e->dummy = *dummy;
            return e;
        }();
        return env->dev ? env.get() : nullptr;
    }
    ~VulkanEnv() {
        if (!dev) return;
        rt.reset();
        for (auto& b : owned) mem->destroy_buffer(b);
        mem->destroy_buffer(dummy);
        compute.reset();
        mem.reset();
    }

    GpuBuffer buffer(uint64 bytes) {
        auto b = mem->create_buffer(bytes, MemoryKind::DeviceLocal);
        EXPECT_TRUE(b) << b.error().to_string();
        owned.push_back(*b);
        return *b;
    }
    GpuBuffer upload(const void* data, uint64 bytes) {
        GpuBuffer b = buffer(bytes);
        auto r = compute->upload(data, bytes, b.buffer, 0);
        EXPECT_TRUE(r) << r.error().to_string();
        return b;
    }
    void download_bytes(const GpuBuffer& b, void* out, uint64 bytes) {
        auto r = compute->download(b, 0, out, bytes);
        EXPECT_TRUE(r) << r.error().to_string();
    }
    std::vector<float> download(const GpuBuffer& b, size_t n) {
        std::vector<float> out(n);
        download_bytes(b, out.data(), n * 4);
        return out;
    }
    // A weight of rows x cols (values replaced by their dtype-rounded versions), cut into
    // pieces at the given row boundaries.
    DeviceWeight weight(std::vector<float>& values, uint32 rows, uint32 cols, DType t, std::vector<uint32> cuts = {}) {
        auto bytes = encode(values, t);
        DeviceWeight w{t, rows, cols, {}};
        cuts.push_back(rows);
        uint32 r = 0;
        for (uint32 c : cuts) {
            if (c <= r) continue;
            const uint64 rb = uint64(cols) * dtype_size(t);
            GpuBuffer b = upload(bytes.data() + r * rb, (c - r) * rb);
            w.pieces.push_back({b.buffer, r, c - r});
            r = c;
        }
        return w;
    }
    ActView act(const GpuBuffer& b, uint32 stride, uint32 offset = 0) { return {b.buffer, offset, stride}; }
    OpContext ctx(const ShaderSpecialization& s) { return OpContext{*rt, s, dummy.buffer, dev->caps().max_workgroup_count[0]}; }
    // Records with fn(ctx), submits and waits.
    template <class Fn>
    void run(const ShaderSpecialization& s, Fn&& fn) {
        auto cmd = compute->begin();
        ASSERT_TRUE(cmd) << cmd.error().to_string();
        rt->begin(*cmd);
        OpContext c = ctx(s);
        auto r = fn(c);
        ASSERT_TRUE(r) << r.error().to_string();
        auto w = compute->submit_and_wait();
        ASSERT_TRUE(w) << w.error().to_string();
        EXPECT_EQ(dev->validation_errors(), 0u) << dev->last_validation_message();
    }

    std::string skip_reason;
    std::unique_ptr<VulkanDevice> dev;
    std::unique_ptr<VulkanMemory> mem;
    std::unique_ptr<VulkanCompute> compute;
    std::unique_ptr<ShaderRuntime> rt;
    GpuBuffer dummy;
    std::vector<GpuBuffer> owned;
};

#define VKS_REQUIRE_VULKAN()                                                 \
    auto* env = ::vk_symbiote::test::VulkanEnv::get();                       \
    if (!env) GTEST_SKIP() << "no Vulkan device";

inline std::vector<float> random_values(size_t n, uint64 seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Reference rope (double, base 10000) of n tokens' rows [tt * rows, (tt + 1) * rows) of `lin`
// (the matmul result), heads of head_dim with the first n_rot dims rotated; pair (2i, 2i+1),
// or (i, i + n_rot / 2) with neox; token tt at position pos0 + tt.
inline std::vector<double> ref_rope(const std::vector<double>& lin, uint32 rows, uint32 n, uint32 n_head, uint32 head_dim, uint32 n_rot,
                                    bool neox, uint32 pos0) {
    std::vector<double> out = lin;
    for (uint32 tt = 0; tt < n; ++tt)
        for (uint32 h = 0; h < n_head; ++h)
            for (uint32 i = 0; i < n_rot / 2; ++i) {
                const uint32 a = h * head_dim + (neox ? i : 2 * i), b = a + (neox ? n_rot / 2 : 1);
                const double th = double(pos0 + tt) * std::pow(10000.0, -2.0 * i / n_rot);
                const double x0 = lin[tt * rows + a], x1 = lin[tt * rows + b];
                out[tt * rows + a] = x0 * std::cos(th) - x1 * std::sin(th);
                out[tt * rows + b] = x0 * std::sin(th) + x1 * std::cos(th);
            }
    return out;
}

}  // namespace vk_symbiote::test
