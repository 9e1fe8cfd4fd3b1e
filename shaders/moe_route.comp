#version 450
// A mixture-of-experts router's choice on the device (MoeRouteParams): one invocation per
// token, the operations of src/backend/cpu/MoeRouting.cpp in the same order, each `precise`
// (no contraction: every f32 add, sub and mul rounds as written, as on the host), so the host
// and this kernel choose the same experts with the same weights bit for bit. Then the chosen
// experts' indirect dispatches are armed and the others emptied.
#extension GL_GOOGLE_include_directive : enable
#include "PushConstants.h"

layout(local_size_x = 64) in;
layout(std430, binding = 2) readonly buffer Logits { float logits[]; };
layout(std430, binding = 3) writeonly buffer Table { uint table[]; };
layout(std430, binding = 4) writeonly buffer Choices { uint choices[]; };
layout(std430, binding = 5) readonly buffer Slots { uvec4 slots[]; };
layout(std430, binding = 6) writeonly buffer Args { uint args[]; };
layout(push_constant) uniform PC { MoeRouteParams p; };

shared uint chosen_sh[256];

// The constants as f32 bit patterns (the host's MoeRouting.cpp uses the same bits): log2(e);
// ln 2 in two parts (the first of 9 bits: k times it is exact); 1 / 7!, 1 / 6!, ..., 1 / 3!.
#define kLog2e uintBitsToFloat(0x3FB8AA3Bu)
#define kLn2Hi uintBitsToFloat(0x3F318000u)
#define kLn2Lo uintBitsToFloat(0xB95E8083u)
#define kC7 uintBitsToFloat(0x39500D01u)
#define kC6 uintBitsToFloat(0x3AB60B61u)
#define kC5 uintBitsToFloat(0x3C088889u)
#define kC4 uintBitsToFloat(0x3D2AAAABu)
#define kC3 uintBitsToFloat(0x3E2AAAABu)

float route_exp(float x) {
    if (!(x >= -80.0)) return 0.0;
    precise float t = x * kLog2e + 0.5;
    float k = floor(t);
    precise float f = (x - k * kLn2Hi) - k * kLn2Lo;
    precise float q = kC7;
    q = q * f + kC6;
    q = q * f + kC5;
    q = q * f + kC4;
    q = q * f + kC3;
    q = q * f + 0.5;
    q = q * f + 1.0;
    q = q * f + 1.0;
    precise float r = q * uintBitsToFloat(uint(int(k) + 127) << 23);
    return r;
}

float route_recip(float b) {
    precise float y = uintBitsToFloat(0x7EF311C3u - floatBitsToUint(b));
    for (int i = 0; i < 3; ++i) y = y * (2.0 - b * y);
    return y;
}

void split(float v, out float hi, out float lo) {
    precise float c = 4097.0 * v;
    precise float h = c - (c - v);
    precise float l = v - h;
    hi = h;
    lo = l;
}

float route_div(float a, float b) {
    const float y = route_recip(b);
    precise float q = a * y;
    precise float prod = q * b;
    float qh, ql, bh, bl;
    split(q, qh, ql);
    split(b, bh, bl);
    precise float err = ((qh * bh - prod) + qh * bl + ql * bh) + ql * bl;
    precise float r = (a - prod) - err;
    precise float out_q = q + r * y;
    return out_q;
}

void route(uint t) {
    const uint X = p.n_expert, K = p.k, base = p.logits_offset + t * X;
    float mx = logits[base];
    for (uint e = 1u; e < X; ++e) mx = max(mx, logits[base + e]);
    precise float sum = 0.0;
    for (uint e = 0u; e < X; ++e) {
        precise float d = logits[base + e] - mx;
        sum += route_exp(d);
    }
    // Top k by logit, ties to the lower expert (strict >): the host's partial sort order.
    uint taken[8] = uint[8](0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
    uint ids[16];
    float w[16];
    precise float chosen = 0.0;
    for (uint j = 0u; j < K; ++j) {
        uint best = X;
        for (uint e = 0u; e < X; ++e)
            if ((taken[e >> 5] & (1u << (e & 31u))) == 0u && (best == X || logits[base + e] > logits[base + best])) best = e;
        taken[best >> 5] |= 1u << (best & 31u);
        ids[j] = best;
        precise float d = logits[base + best] - mx;
        w[j] = route_div(route_exp(d), sum);
        chosen += w[j];
        choices[p.choice_offset + t * K + j] = best;
        atomicOr(chosen_sh[best], 1u);
    }
    for (uint j = 0u; j < K; ++j) {
        precise float v = (p.norm != 0u ? route_div(w[j], chosen) : w[j]) * p.scale;
        w[j] = v;
    }
    // The combine's order: ascending expert (insertion sort of k <= 16).
    for (uint i = 1u; i < K; ++i)
        for (uint j = i; j > 0u && ids[j - 1u] > ids[j]; --j) {
            const uint ti = ids[j]; ids[j] = ids[j - 1u]; ids[j - 1u] = ti;
            const float tw = w[j]; w[j] = w[j - 1u]; w[j - 1u] = tw;
        }
    for (uint j = 0u; j < K; ++j) {
        table[p.table_offset + 2u * (t * K + j)] = ids[j];
        table[p.table_offset + 2u * (t * K + j) + 1u] = floatBitsToUint(w[j]);
    }
}

void main() {
    const uint t = gl_GlobalInvocationID.x, li = gl_LocalInvocationID.x;
    for (uint e = li; e < 256u; e += 64u) chosen_sh[e] = 0u;
    barrier();
    if (t < p.n_tokens) route(t);
    barrier();
    for (uint s = p.first_slot + li; s < p.first_slot + p.n_slots; s += 64u) {
        const uvec4 d = slots[s];
        const bool run = chosen_sh[min(d.w, 255u)] != 0u;
        args[4u * s] = run ? d.x : 0u;
        args[4u * s + 1u] = run ? d.y : 1u;
        args[4u * s + 2u] = run ? d.z : 1u;
    }
}
