#include "compression/BloscCodec.h"

#include <algorithm>

#include <blosc.h>

namespace vk_symbiote {

BloscCodec::BloscCodec(std::string name, std::string compressor, BloscShuffle shuffle, int level, int threads)
    : name_(std::move(name)),
      compressor_(std::move(compressor)),
      shuffle_(shuffle),
      level_(level < 0 ? 5 : std::clamp(level, 1, 9)),
      threads_(std::max(1, threads)) {}

ExpectedVoid BloscCodec::encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const {
    const int doshuffle = shuffle_ == BloscShuffle::Bit ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    for (uint64 pos = 0; pos < src.size(); pos += kChunkBytes) {
        const size_t n = size_t(std::min<uint64>(kChunkBytes, src.size() - pos));
        const size_t base = out.size();
        out.resize(base + n + BLOSC_MAX_OVERHEAD);
        const int r = blosc_compress_ctx(level_, doshuffle, dtype_size(dtype), n, src.data() + pos, out.data() + base,
                                         n + BLOSC_MAX_OVERHEAD, compressor_.c_str(), 0, threads_);
        if (r <= 0)
            return make_error(ErrorCode::Internal, name_ + ": blosc_compress_ctx failed (" + std::to_string(r) +
                                                       ") on a chunk of " + std::to_string(n) + " bytes");
        out.resize(base + size_t(r));
    }
    return {};
}

ExpectedVoid BloscCodec::decode_payload(std::span<const uint8> payload, DType, std::span<uint8> dst) const {
    size_t pos = 0;
    uint64 written = 0;
    while (written < dst.size()) {
        const size_t left = payload.size() - pos;
        if (left < BLOSC_MIN_HEADER_LENGTH)
            return make_error(ErrorCode::Corrupt, "blosc payload: truncated chunk header at byte " + std::to_string(pos));
        size_t nbytes = 0, cbytes = 0, blocksize = 0;
        if (blosc_cbuffer_validate(payload.data() + pos, left, &nbytes) < 0)
            return make_error(ErrorCode::Corrupt, "blosc payload: invalid chunk header at byte " + std::to_string(pos));
        blosc_cbuffer_sizes(payload.data() + pos, &nbytes, &cbytes, &blocksize);
        const uint64 expect = std::min<uint64>(kChunkBytes, dst.size() - written);
        if (nbytes != expect || cbytes > left || cbytes < BLOSC_MIN_HEADER_LENGTH)
            return make_error(ErrorCode::Corrupt, "blosc payload: chunk at byte " + std::to_string(pos) + " claims " +
                                                      std::to_string(nbytes) + " raw / " + std::to_string(cbytes) +
                                                      " compressed bytes, expected " + std::to_string(expect) +
                                                      " raw within " + std::to_string(left));
        const int r = blosc_decompress_ctx(payload.data() + pos, dst.data() + written, nbytes, threads_);
        if (r < 0 || size_t(r) != nbytes)
            return make_error(ErrorCode::Corrupt, "blosc payload: chunk at byte " + std::to_string(pos) +
                                                      " failed to decompress (" + std::to_string(r) + ")");
        pos += cbytes;
        written += nbytes;
    }
    if (pos != payload.size())
        return make_error(ErrorCode::Corrupt, "blosc payload: " + std::to_string(payload.size() - pos) +
                                                  " trailing bytes after the last chunk");
    return {};
}

}  // namespace vk_symbiote
