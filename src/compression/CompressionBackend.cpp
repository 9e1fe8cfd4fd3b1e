#include "compression/CompressionBackend.h"

#include <cstring>

#include <xxhash.h>

namespace vk_symbiote {

const char* codec_id_name(CodecId id) {
    switch (id) {
        case CodecId::None: return "none";
        case CodecId::Blosc: return "blosc";
        case CodecId::Zfp: return "zfp";
        case CodecId::Exponent: return "exponent";
    }
    return "?";
}

uint8 dtype_code(DType t) {
    switch (t) {
        case DType::F32: return 0;
        case DType::F16: return 1;
        case DType::BF16: return 2;
    }
    return 0xFF;
}

Expected<DType> dtype_from_code(uint8 code) {
    switch (code) {
        case 0: return DType::F32;
        case 1: return DType::F16;
        case 2: return DType::BF16;
    }
    return make_error(ErrorCode::Format, "compressed frame: unknown dtype code " + std::to_string(code));
}

namespace {

bool known_codec(uint8 id) { return id <= uint8(CodecId::Exponent); }

uint64 frame_checksum(const uint8* header24, std::span<const uint8> payload) {
    const uint64 seed = XXH3_64bits(header24, 24);
    return XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
}

}  // namespace

Expected<FrameInfo> parse_frame_header(std::span<const uint8> frame) {
    if (frame.size() < kFrameHeaderSize)
        return make_error(ErrorCode::Corrupt, "compressed frame: " + std::to_string(frame.size()) +
                                                  " bytes, shorter than the " +
                                                  std::to_string(kFrameHeaderSize) + "-byte header");
    const uint8* p = frame.data();
    if (get_u32(p) != kFrameMagic) return make_error(ErrorCode::Corrupt, "compressed frame: bad magic");
    if (p[4] != kFrameVersion)
        return make_error(ErrorCode::Format, "compressed frame: unsupported version " + std::to_string(p[4]));
    if (!known_codec(p[5]))
        return make_error(ErrorCode::Format, "compressed frame: unknown codec id " + std::to_string(p[5]));
    auto dt = dtype_from_code(p[6]);
    if (!dt) return dt.error();
    if (p[7] != 0) return make_error(ErrorCode::Corrupt, "compressed frame: reserved byte is not 0");
    FrameInfo info;
    info.codec = CodecId(p[5]);
    info.dtype = *dt;
    info.raw_size = get_u64(p + 8);
    info.payload_size = get_u64(p + 16);
    if (info.payload_size > frame.size() - kFrameHeaderSize)
        return make_error(ErrorCode::Corrupt, "compressed frame: payload size " + std::to_string(info.payload_size) +
                                                  " exceeds the " + std::to_string(frame.size() - kFrameHeaderSize) +
                                                  " bytes present (truncated?)");
    return info;
}

Expected<FrameInfo> verify_frame(std::span<const uint8> frame, std::span<uint8> dst) {
    auto info = parse_frame_header(frame);
    if (!info) return info.error();
    if (info->raw_size != dst.size())
        return make_error(ErrorCode::InvalidArgument, "compressed frame: raw size " + std::to_string(info->raw_size) +
                                                          " but destination holds " + std::to_string(dst.size()));
    const auto payload = frame.subspan(kFrameHeaderSize, info->payload_size);
    if (frame_checksum(frame.data(), payload) != get_u64(frame.data() + 24))
        return make_error(ErrorCode::Corrupt, std::string("compressed frame (") + codec_id_name(info->codec) +
                                                  "): checksum mismatch");
    return info;
}

Expected<std::vector<uint8>> CompressionBackend::compress(std::span<const uint8> src, DType dtype) const {
    if (!suits(dtype))
        return make_error(ErrorCode::InvalidArgument,
                          "codec '" + name() + "' does not handle dtype " + dtype_name(dtype));
    std::vector<uint8> out(kFrameHeaderSize, 0);
    VKS_TRY(encode_payload(src, dtype, out));
    const uint64 payload_size = out.size() - kFrameHeaderSize;
    std::vector<uint8> header;
    header.reserve(kFrameHeaderSize);
    put_u32(header, kFrameMagic);
    header.push_back(kFrameVersion);
    header.push_back(uint8(id()));
    header.push_back(dtype_code(dtype));
    header.push_back(0);
    put_u64(header, src.size());
    put_u64(header, payload_size);
    put_u64(header, frame_checksum(header.data(), std::span<const uint8>(out).subspan(kFrameHeaderSize)));
    std::memcpy(out.data(), header.data(), kFrameHeaderSize);
    return out;
}

ExpectedVoid CompressionBackend::decompress(std::span<const uint8> frame, std::span<uint8> dst) const {
    auto info = verify_frame(frame, dst);
    if (!info) return info.error();
    if (info->codec != id())
        return make_error(ErrorCode::InvalidArgument, std::string("compressed frame was made by codec '") +
                                                          codec_id_name(info->codec) + "', not '" + name() + "'");
    return decode_payload(frame.subspan(kFrameHeaderSize, info->payload_size), info->dtype, dst);
}

}  // namespace vk_symbiote
