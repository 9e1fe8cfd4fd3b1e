#include "compression/ExponentCodec.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include <zstd.h>

#include "compression/RansCoder.h"

namespace vk_symbiote {

namespace {

constexpr size_t kHeaderBytes = 12;  // u32 block_elems + u64 n_elems
constexpr uint32 kMaxBlockElems = 1u << 24;
enum Method : uint8 { kRaw = 0, kZstd = 1, kRans = 2 };
constexpr size_t kEntryBytes = 5;  // u8 method + u32 csize

// Splits elements [0, n) of `src` into exponent bytes `e` (n) and rest bytes `r`
// (n * (size - 1)). See the table in ExponentCodec.h.
void split(DType t, const uint8* src, size_t n, uint8* e, uint8* r) {
    if (t == DType::F32) {
        for (size_t i = 0; i < n; ++i) {
            uint32 v;
            std::memcpy(&v, src + 4 * i, 4);
            e[i] = uint8(v >> 23);
            r[3 * i] = uint8(v);
            r[3 * i + 1] = uint8(v >> 8);
            r[3 * i + 2] = uint8(((v >> 16) & 0x7F) | ((v >> 24) & 0x80));
        }
    } else if (t == DType::BF16) {
        for (size_t i = 0; i < n; ++i) {
            uint16 v;
            std::memcpy(&v, src + 2 * i, 2);
            e[i] = uint8(v >> 7);
            r[i] = uint8((v & 0x7F) | ((v >> 8) & 0x80));
        }
    } else {
        for (size_t i = 0; i < n; ++i) {
            e[i] = src[2 * i + 1];
            r[i] = src[2 * i];
        }
    }
}

// Inverse of split for n elements written to `dst`.
void merge(DType t, const uint8* e, const uint8* r, size_t n, uint8* dst) {
    if (t == DType::F32) {
        for (size_t i = 0; i < n; ++i) {
            const uint32 hi = r[3 * i + 2];
            const uint32 v = uint32(r[3 * i]) | uint32(r[3 * i + 1]) << 8 | (hi & 0x7F) << 16 |
                             uint32(e[i]) << 23 | (hi & 0x80) << 24;
            std::memcpy(dst + 4 * i, &v, 4);
        }
    } else if (t == DType::BF16) {
        for (size_t i = 0; i < n; ++i) {
            const uint16 v = uint16((r[i] & 0x7F) | uint32(e[i]) << 7 | (r[i] & 0x80) << 8);
            std::memcpy(dst + 2 * i, &v, 2);
        }
    } else {
        for (size_t i = 0; i < n; ++i) {
            dst[2 * i] = r[i];
            dst[2 * i + 1] = e[i];
        }
    }
}

struct CCtxFree { void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); } };
struct DCtxFree { void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); } };

Error corrupt(const std::string& what) { return make_error(ErrorCode::Corrupt, "exponent payload: " + what); }

}  // namespace

ExponentCodec::ExponentCodec(Entropy entropy, int level)
    : entropy_(entropy), level_(level < 0 ? kDefaultZstdLevel : std::clamp(level, 1, ZSTD_maxCLevel())) {}

ExpectedVoid ExponentCodec::encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const {
    const size_t es = dtype_size(dtype);
    const size_t n = src.size() / es;
    const size_t nb = (n + kBlockElems - 1) / kBlockElems;
    put_u32(out, kBlockElems);
    put_u64(out, n);
    const size_t table = out.size();
    out.resize(table + kEntryBytes * nb);

    std::vector<uint8> rest(n * (es - 1));
    std::vector<uint8> exps(std::min<size_t>(n, kBlockElems));
    std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
    if (!cctx) return make_error(ErrorCode::OutOfMemory, "exponent codec: cannot create a zstd context");
    for (size_t b = 0; b < nb; ++b) {
        const size_t i0 = b * kBlockElems;
        const size_t len = std::min<size_t>(kBlockElems, n - i0);
        split(dtype, src.data() + i0 * es, len, exps.data(), rest.data() + i0 * (es - 1));
        const size_t at = out.size();
        uint8 method = kRans;
        if (entropy_ == Entropy::Rans) {
            rans_encode(std::span<const uint8>(exps.data(), len), out);
        } else {
            method = kZstd;
            out.resize(at + ZSTD_compressBound(len));
            const size_t c = ZSTD_compressCCtx(cctx.get(), out.data() + at, out.size() - at, exps.data(), len, level_);
            out.resize(ZSTD_isError(c) ? out.size() : at + c);
        }
        if (out.size() - at >= len) {  // did not shrink: store raw
            out.resize(at + len);
            std::memcpy(out.data() + at, exps.data(), len);
            method = kRaw;
        }
        const uint32 stored = uint32(out.size() - at);
        out[table + kEntryBytes * b] = method;
        for (int k = 0; k < 4; ++k) out[table + kEntryBytes * b + 1 + k] = uint8(stored >> (8 * k));
    }
    out.insert(out.end(), rest.begin(), rest.end());
    out.insert(out.end(), src.begin() + n * es, src.end());
    return {};
}

ExpectedVoid ExponentCodec::decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const {
    const size_t es = dtype_size(dtype);
    const size_t n = dst.size() / es;
    const size_t tail = dst.size() % es;
    if (payload.size() < kHeaderBytes) return corrupt("shorter than its 12-byte header");
    const uint32 block = get_u32(payload.data());
    if (block == 0 || block > kMaxBlockElems) return corrupt("block size " + std::to_string(block) + " out of range");
    if (get_u64(payload.data() + 4) != n)
        return corrupt("element count " + std::to_string(get_u64(payload.data() + 4)) + ", expected " +
                       std::to_string(n));
    const size_t nb = (n + block - 1) / block;
    if ((payload.size() - kHeaderBytes) / kEntryBytes < nb) return corrupt("block table truncated");
    const uint8* tab = payload.data() + kHeaderBytes;
    uint64 sum = 0;
    for (size_t b = 0; b < nb; ++b) {
        const size_t len = std::min<size_t>(block, n - b * block);
        const uint8 m = tab[kEntryBytes * b];
        const uint32 c = get_u32(tab + kEntryBytes * b + 1);
        if (m > kRans || (m == kRaw) != (c == len) || c == 0 || c > 2 * len + 1024)
            return corrupt("block " + std::to_string(b) + ": method " + std::to_string(m) + " size " +
                           std::to_string(c) + " invalid for " + std::to_string(len) + " elements");
        sum += c;  // nb * 2^32 cannot overflow u64
    }
    const uint64 expect = kHeaderBytes + kEntryBytes * uint64(nb) + sum + uint64(n) * (es - 1) + tail;
    if (expect != payload.size())
        return corrupt("sizes add up to " + std::to_string(expect) + " bytes, payload has " +
                       std::to_string(payload.size()));

    std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
    if (!dctx) return make_error(ErrorCode::OutOfMemory, "exponent codec: cannot create a zstd context");
    std::vector<uint8> exps(std::min<size_t>(n, block));
    const uint8* blocks = tab + kEntryBytes * nb;
    const uint8* rest = blocks + sum;
    for (size_t b = 0; b < nb; ++b) {
        const size_t i0 = b * block;
        const size_t len = std::min<size_t>(block, n - i0);
        const uint8 m = tab[kEntryBytes * b];
        const uint32 c = get_u32(tab + kEntryBytes * b + 1);
        const uint8* e = blocks;
        if (m == kZstd) {
            const size_t d = ZSTD_decompressDCtx(dctx.get(), exps.data(), len, blocks, c);
            if (ZSTD_isError(d) || d != len)
                return corrupt("block " + std::to_string(b) + " does not decode to " + std::to_string(len) +
                               " bytes" + (ZSTD_isError(d) ? std::string(": ") + ZSTD_getErrorName(d) : ""));
            e = exps.data();
        } else if (m == kRans) {
            auto r = rans_decode(std::span<const uint8>(blocks, c), std::span<uint8>(exps.data(), len));
            if (!r) return corrupt("block " + std::to_string(b) + ": " + r.error().message);
            e = exps.data();
        }
        merge(dtype, e, rest + i0 * (es - 1), len, dst.data() + i0 * es);
        blocks += c;
    }
    if (tail) std::memcpy(dst.data() + n * es, rest + n * (es - 1), tail);
    return {};
}

}  // namespace vk_symbiote
