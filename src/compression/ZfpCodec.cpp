#include "compression/ZfpCodec.h"

#include <cstring>
#include <memory>

#include <zfp.h>

namespace vk_symbiote {

namespace {

// RAII for the zfp objects of one call.
struct ZfpCall {
    zfp_field* field = nullptr;
    zfp_stream* zfp = nullptr;
    bitstream* bits = nullptr;
    ~ZfpCall() {
        if (bits) stream_close(bits);
        if (zfp) zfp_stream_close(zfp);
        if (field) zfp_field_free(field);
    }
};

// n floats at `data` (zfp wants a mutable pointer; compress does not write to it).
bool open_call(ZfpCall& c, void* data, size_t n) {
    c.field = zfp_field_1d(data, zfp_type_float, n);
    c.zfp = zfp_stream_open(nullptr);
    if (!c.field || !c.zfp) return false;
    zfp_stream_set_reversible(c.zfp);
    return true;
}

}  // namespace

ExpectedVoid ZfpCodec::encode_payload(std::span<const uint8> src, DType, std::vector<uint8>& out) const {
    const size_t n = src.size() / 4;
    const size_t tail = src.size() % 4;
    const size_t base = out.size();
    put_u64(out, 0);
    if (n > 0) {
        ZfpCall c;
        if (!open_call(c, const_cast<uint8*>(src.data()), n))
            return make_error(ErrorCode::OutOfMemory, "zfp: cannot open a stream");
        const size_t max_bytes = zfp_stream_maximum_size(c.zfp, c.field);
        const size_t at = out.size();
        out.resize(at + max_bytes);
        c.bits = stream_open(out.data() + at, max_bytes);
        if (!c.bits) return make_error(ErrorCode::OutOfMemory, "zfp: cannot open a bit stream");
        zfp_stream_set_bit_stream(c.zfp, c.bits);
        zfp_stream_rewind(c.zfp);
        const size_t used = zfp_compress(c.zfp, c.field);
        if (used == 0 || used > max_bytes)
            return make_error(ErrorCode::Internal, "zfp: zfp_compress failed on " + std::to_string(n) + " floats");
        out.resize(at + used);
        const uint64 used64 = used;
        for (int i = 0; i < 8; ++i) out[base + i] = uint8(used64 >> (8 * i));
    }
    out.insert(out.end(), src.end() - tail, src.end());
    return {};
}

ExpectedVoid ZfpCodec::decode_payload(std::span<const uint8> payload, DType, std::span<uint8> dst) const {
    const size_t n = dst.size() / 4;
    const size_t tail = dst.size() % 4;
    if (payload.size() < 8) return make_error(ErrorCode::Corrupt, "zfp payload: shorter than its 8-byte length field");
    const uint64 zbytes = get_u64(payload.data());
    if (zbytes > payload.size() - 8 || payload.size() - 8 - zbytes != tail)
        return make_error(ErrorCode::Corrupt, "zfp payload: stream length " + std::to_string(zbytes) +
                                                  " does not fit the " + std::to_string(payload.size()) +
                                                  "-byte payload with " + std::to_string(tail) + " tail bytes");
    if ((n == 0) != (zbytes == 0))
        return make_error(ErrorCode::Corrupt, "zfp payload: stream length " + std::to_string(zbytes) + " for " +
                                                  std::to_string(n) + " floats");
    if (n > 0) {
        ZfpCall c;
        if (!open_call(c, dst.data(), n)) return make_error(ErrorCode::OutOfMemory, "zfp: cannot open a stream");
        const size_t max_bytes = zfp_stream_maximum_size(c.zfp, c.field);
        if (zbytes > max_bytes)
            return make_error(ErrorCode::Corrupt, "zfp payload: stream of " + std::to_string(zbytes) +
                                                      " bytes exceeds the " + std::to_string(max_bytes) +
                                                      "-byte worst case for " + std::to_string(n) + " floats");
        // Padded copy: see the header comment. 64 spare bytes cover zfp's word-wise reads.
        const size_t cap = max_bytes + 64;
        std::unique_ptr<uint64[]> buf(new (std::nothrow) uint64[cap / 8 + 1]());
        if (!buf) return make_error(ErrorCode::OutOfMemory, "zfp: cannot allocate " + std::to_string(cap) + " bytes");
        std::memcpy(buf.get(), payload.data() + 8, size_t(zbytes));
        c.bits = stream_open(buf.get(), cap);
        if (!c.bits) return make_error(ErrorCode::OutOfMemory, "zfp: cannot open a bit stream");
        zfp_stream_set_bit_stream(c.zfp, c.bits);
        zfp_stream_rewind(c.zfp);
        const size_t used = zfp_decompress(c.zfp, c.field);
        // zfp reports consumed bytes rounded up to its 64-bit words.
        if (used == 0 || used > ((zbytes + 7) / 8) * 8)
            return make_error(ErrorCode::Corrupt, "zfp payload: stream is corrupt (decoder consumed " +
                                                      std::to_string(used) + " of " + std::to_string(zbytes) + " bytes)");
    }
    if (tail) std::memcpy(dst.data() + n * 4, payload.data() + 8 + zbytes, tail);
    return {};
}

}  // namespace vk_symbiote
