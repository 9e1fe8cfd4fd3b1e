// Shared GLSL: specialization constants, fixed bindings, weight decoding and workgroup
// reductions. Every shader uses the same descriptor set layout (6 storage buffers):
//   0: W0 (weights, dtype by W_F32 / W_F16 / W_BF16)   1: W1 (second weight matrix: SwiGLU up)
//   2: X (f32 input)   3: Y (f32 output)   4: A (f32 aux: K cache)   5: B (f32 aux: V cache)
//   6: C (uint aux: the rows of a paged attention pass; declared by the shaders that read it)
// f16 / bf16 weights are read as packed uint pairs (no 16-bit storage feature needed);
// bf16 is the top half of an f32. W0 / W1 / X are also declared as 16-byte vectors
// (aliases of the same bindings) for the wide loads of the matvec / matmul kernels.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#include "PushConstants.h"

layout(constant_id = 0) const uint WG_X = 16;
layout(constant_id = 1) const uint WG_Y = 16;
layout(constant_id = 2) const bool USE_SUBGROUP = true;
layout(constant_id = 3) const bool USE_FP16 = true;
// Model-family features (ShaderSpecialization::features): with all of them off the kernels are
// the Llama ones, as if the code they guard were not there.
layout(constant_id = 4) const bool HAS_BIAS = false;     // matvec / matmul: + row bias (binding 1) before rope
layout(constant_id = 5) const bool USE_GELU = false;     // SWIGLU variants: gelu_tanh(gate) * up instead of silu
layout(constant_id = 6) const bool HAS_SOFTCAP = false;  // attention: soft-capped scores
layout(constant_id = 7) const bool HAS_WINDOW = false;   // attention: sliding window over ring caches
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;

const uint WG = WG_X * WG_Y;

#if defined(W_F32)
layout(std430, binding = 0) readonly buffer W0buf { float w0[]; };
layout(std430, binding = 1) readonly buffer W1buf { float w1[]; };
layout(std430, binding = 0) readonly buffer W0vec { vec4 w0v[]; };
layout(std430, binding = 1) readonly buffer W1vec { vec4 w1v[]; };
float wload0(uint i) { return w0[i]; }
float wload1(uint i) { return w1[i]; }
// Weights [8i, 8i + 8) as (lo, hi); the element offset 8i must be a multiple of 8.
void wload8_0(uint i, out vec4 lo, out vec4 hi) { lo = w0v[2u * i]; hi = w0v[2u * i + 1u]; }
void wload8_1(uint i, out vec4 lo, out vec4 hi) { lo = w1v[2u * i]; hi = w1v[2u * i + 1u]; }
// The same packet undecoded (WRaw), so a load can stay in flight until wdecode8 uses it.
#define WRaw mat2x4
WRaw wraw8_0(uint i) { return WRaw(w0v[2u * i], w0v[2u * i + 1u]); }
WRaw wraw8_1(uint i) { return WRaw(w1v[2u * i], w1v[2u * i + 1u]); }
void wdecode8(WRaw r, out vec4 lo, out vec4 hi) { lo = r[0]; hi = r[1]; }
#else
layout(std430, binding = 0) readonly buffer W0buf { uint w0[]; };
layout(std430, binding = 1) readonly buffer W1buf { uint w1[]; };
layout(std430, binding = 0) readonly buffer W0vec { uvec4 w0v[]; };
layout(std430, binding = 1) readonly buffer W1vec { uvec4 w1v[]; };
float decode16(uint word, uint i) {
    uint h = (i & 1u) != 0u ? (word >> 16) : (word & 0xffffu);
#if defined(W_F16)
    return unpackHalf2x16(h).x;
#else
    return uintBitsToFloat(h << 16);
#endif
}
// Two 16-bit weights of one 32-bit word (low half first).
vec2 decode16x2(uint word) {
#if defined(W_F16)
    return unpackHalf2x16(word);
#else
    return vec2(uintBitsToFloat(word << 16), uintBitsToFloat(word & 0xffff0000u));
#endif
}
void decode8(uvec4 u, out vec4 lo, out vec4 hi) {
    lo = vec4(decode16x2(u.x), decode16x2(u.y));
    hi = vec4(decode16x2(u.z), decode16x2(u.w));
}
float wload0(uint i) { return decode16(w0[i >> 1], i); }
float wload1(uint i) { return decode16(w1[i >> 1], i); }
void wload8_0(uint i, out vec4 lo, out vec4 hi) { decode8(w0v[i], lo, hi); }
void wload8_1(uint i, out vec4 lo, out vec4 hi) { decode8(w1v[i], lo, hi); }
#define WRaw uvec4
WRaw wraw8_0(uint i) { return w0v[i]; }
WRaw wraw8_1(uint i) { return w1v[i]; }
void wdecode8(WRaw r, out vec4 lo, out vec4 hi) { decode8(r, lo, hi); }
#endif

layout(std430, binding = 1) readonly buffer Biasbuf { float biasbuf[]; };  // HAS_BIAS (no second matrix then)
layout(std430, binding = 2) readonly buffer Xbuf { float xbuf[]; };
layout(std430, binding = 2) readonly buffer Xvec { vec4 xvec[]; };
layout(std430, binding = 3) buffer Ybuf { float ybuf[]; };
layout(std430, binding = 4) buffer Abuf { float abuf[]; };
layout(std430, binding = 5) buffer Bbuf { float bbuf[]; };

// An activation as it enters a product with a weight. FP16_ARITH variants with USE_FP16
// round it to f16 (llama.cpp converts activations to f16 for f16 weights); the product of
// two f16 values is exact in f32, so the products equal llama.cpp's and only the f32
// accumulation order differs.
float xround(float x);
vec4 xround4(vec4 x);

shared vec2 red_sh[WG];

// Sum of v over the workgroup, returned to every invocation. Must be called in uniform
// control flow by the whole workgroup.
vec2 wg_sum2(vec2 v) {
    const uint tid = gl_LocalInvocationIndex;
    if (USE_SUBGROUP) {
        v = subgroupAdd(v);
        if (subgroupElect()) red_sh[gl_SubgroupID] = v;
        barrier();
        vec2 total = vec2(0.0);
        for (uint i = 0; i < gl_NumSubgroups; ++i) total += red_sh[i];
        barrier();
        return total;
    }
    red_sh[tid] = v;
    barrier();
    uint p2 = 1;
    while (p2 < WG) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0; s >>= 1) {
        if (tid < s && tid + s < WG) red_sh[tid] += red_sh[tid + s];
        barrier();
    }
    vec2 total = red_sh[0];
    barrier();
    return total;
}

float wg_sum(float v) { return wg_sum2(vec2(v, 0.0)).x; }

float wg_max(float v) {
    const uint tid = gl_LocalInvocationIndex;
    if (USE_SUBGROUP) {
        v = subgroupMax(v);
        if (subgroupElect()) red_sh[gl_SubgroupID].x = v;
        barrier();
        float m = red_sh[0].x;
        for (uint i = 1; i < gl_NumSubgroups; ++i) m = max(m, red_sh[i].x);
        barrier();
        return m;
    }
    red_sh[tid].x = v;
    barrier();
    uint p2 = 1;
    while (p2 < WG) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0; s >>= 1) {
        if (tid < s && tid + s < WG) red_sh[tid].x = max(red_sh[tid].x, red_sh[tid + s].x);
        barrier();
    }
    float m = red_sh[0].x;
    barrier();
    return m;
}

// v rounded to the nearest f16-representable value (round to nearest even on the 10
// mantissa bits; the f16 exponent range is not clamped, which only matters outside
// 6e-5 .. 65504). Integer bit operations, because drivers may fold
// unpackHalf2x16(packHalf2x16(v)) into v (the NVIDIA driver does).
float round_to_f16(float v) {
    uint u = floatBitsToUint(v);
    u = (u + 0x0FFFu + ((u >> 13) & 1u)) & 0xFFFFE000u;
    return uintBitsToFloat(u);
}

#ifdef FP16_ARITH
float xround(float x) { return USE_FP16 ? round_to_f16(x) : x; }
#else
float xround(float x) { return x; }
#endif
vec4 xround4(vec4 x) { return vec4(xround(x.x), xround(x.y), xround(x.z), xround(x.w)); }

// The gate's activation of the gated FFN: silu(g) = g / (1 + exp(-g)), or with USE_GELU
// gelu_tanh(g) = 0.5 g (1 + tanh(z)) = g / (1 + exp(-2z)), z = sqrt(2/pi) (g + 0.044715 g^3):
// the same function without tanh, whose precision Vulkan leaves to the driver.
float gate_act(float g) {
    if (USE_GELU) {
        const float z = 0.79788456080286535588 * g * (1.0 + 0.044715 * g * g);
        return g / (1.0 + exp(-2.0 * z));
    }
    return g / (1.0 + exp(-g));
}

// tanh(x) = 2 / (1 + exp(-2x)) - 1, through exp as gate_act (exact limits: +-1).
float tanh_exp(float x) { return 2.0 / (1.0 + exp(-2.0 * x)) - 1.0; }

// Rope pair of rotation unit `unit` (pair j of head h): rows (r0, r1), index i into the
// (cos, sin) table, and whether the pair is rotated (neox: dims >= n_rot are not; they
// come as two adjacent rows per unit).
struct RopePair {
    uint r0, r1, i;
    bool rotate;
};
RopePair rope_pair(uint unit, uint head_dim, uint n_rot, uint neox) {
    const uint half_hd = head_dim / 2u;
    const uint h = unit / half_hd, j = unit % half_hd;
    RopePair rp;
    rp.i = j;
    if (neox != 0u) {
        rp.rotate = j < n_rot / 2u;
        if (rp.rotate) { rp.r0 = h * head_dim + j; rp.r1 = rp.r0 + n_rot / 2u; }
        else { rp.r0 = h * head_dim + n_rot + 2u * (j - n_rot / 2u); rp.r1 = rp.r0 + 1u; }
    } else {
        rp.rotate = 2u * j < n_rot;
        rp.r0 = h * head_dim + 2u * j;
        rp.r1 = rp.r0 + 1u;
    }
    return rp;
}

// (x0, x1) rotated by the angle of position pos, pair i: (cos, sin) from the host-computed
// table B: [pos][n_rot / 2][2] (GPU sin / cos are too coarse: Vulkan allows 2^-11 absolute error).
vec2 rope_rotate(vec2 v, uint pos, uint i, uint n_rot) {
    const uint ti = (pos * (n_rot / 2u) + i) * 2u;
    const float c = bbuf[ti], s = bbuf[ti + 1u];
    return vec2(v.x * c - v.y * s, v.x * s + v.y * c);
}
