// CompressionBackend: the interface of a lossless pack codec, and the frame around its payload:
//   "VKSZ" | u8 version | u8 codec id | u8 dtype (0 f32, 1 f16, 2 bf16) | u8 0 | u64 raw bytes
//   | u64 payload bytes | u64 XXH3-64 of the payload seeded with XXH3-64 of bytes [0, 24) | payload
// The checksum catches corruption first; decoders still check every size, so a crafted frame
// gives an Error. Backends are immutable: methods may run on several I/O threads at once.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Codec ids stored in frames. Values are part of the on-disk format: never reuse one.
enum class CodecId : uint8 { None = 0, Blosc = 1, Zfp = 2, Exponent = 3 };
const char* codec_id_name(CodecId id);

inline constexpr uint32 kFrameMagic = 0x5A534B56u;  // "VKSZ" read as little-endian u32
inline constexpr uint8 kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 32;

// dtype <-> the one-byte code stored in frames.
uint8 dtype_code(DType t);
Expected<DType> dtype_from_code(uint8 code);

struct FrameInfo {
    CodecId codec = CodecId::None;
    DType dtype = DType::F32;
    uint64 raw_size = 0;      // bytes decompress() writes
    uint64 payload_size = 0;  // bytes after the header
    uint64 frame_size() const { return kFrameHeaderSize + payload_size; }
};

// Reads and checks the header only (magic, version, known codec / dtype, sizes fit in
// `frame`); does not verify the checksum. Errors are Format / Corrupt.
Expected<FrameInfo> parse_frame_header(std::span<const uint8> frame);

// Options shared by all codec factories; each codec uses the fields that apply.
struct CodecOptions {
    int level = -1;    // codec-specific level; -1 = the codec's default
    int threads = 1;   // threads one call may use internally (blosc); 1 when callers
                       // already run one call per I/O thread
};

class CompressionBackend {
public:
    virtual ~CompressionBackend() = default;

    // Registered name, e.g. "blosc-zstd" (what configuration and logs show).
    virtual std::string name() const = 0;
    virtual CodecId id() const = 0;
    // Whether the codec is meant for this element type (zfp: f32 only). compress()
    // with an unsuitable dtype is an InvalidArgument error.
    virtual bool suits(DType t) const = 0;

    // Compresses `src` (any length, need not be a multiple of the dtype size) into a
    // complete frame.
    Expected<std::vector<uint8>> compress(std::span<const uint8> src, DType dtype) const;
    // Decompresses a frame made by this codec into `dst`, whose size must equal the
    // frame's raw size. Verifies the checksum; any mismatch is an Error.
    ExpectedVoid decompress(std::span<const uint8> frame, std::span<uint8> dst) const;

    // Payload level (no header, no checksum). Public so tests and fuzzers can feed
    // decoders hostile payloads directly. encode appends to `out`.
    virtual ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype,
                                        std::vector<uint8>& out) const = 0;
    virtual ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype,
                                        std::span<uint8> dst) const = 0;
};

// Checks magic/version/sizes/checksum of `frame` and that dst.size() equals its raw
// size; returns the parsed header. Used by every decompress path.
Expected<FrameInfo> verify_frame(std::span<const uint8> frame, std::span<uint8> dst);

// Little-endian helpers for payload formats (bounds are the caller's job).
inline void put_u32(std::vector<uint8>& out, uint32 v) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8(v >> (8 * i)));
}
inline void put_u64(std::vector<uint8>& out, uint64 v) {
    for (int i = 0; i < 8; ++i) out.push_back(uint8(v >> (8 * i)));
}
inline uint32 get_u32(const uint8* p) {
    return uint32(p[0]) | uint32(p[1]) << 8 | uint32(p[2]) << 16 | uint32(p[3]) << 24;
}
inline uint64 get_u64(const uint8* p) { return uint64(get_u32(p)) | uint64(get_u32(p + 4)) << 32; }

}  // namespace vk_symbiote
