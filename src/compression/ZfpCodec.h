// ZfpCodec: libzfp in reversible (lossless) mode over f32 data, treated as one 1-D
// array of n = size / 4 floats. Bytes past the last whole float are stored raw.
//
// Payload: u64 zfp_bytes | zfp stream (zfp_bytes) | size % 4 trailing raw bytes.
//
// libzfp's bit reader has no bounds checks, so decode copies the stream into a
// zero-padded buffer at least zfp_stream_maximum_size() long: a corrupt stream can
// then only decode garbage, never read past the buffer, and a stream that consumed
// more than zfp_bytes is reported as corrupt.
//
// Thread-safety: every call opens its own zfp_stream / bitstream.
#pragma once

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

class ZfpCodec final : public CompressionBackend {
public:
    std::string name() const override { return "zfp"; }
    CodecId id() const override { return CodecId::Zfp; }
    bool suits(DType t) const override { return t == DType::F32; }
    ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const override;
    ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const override;
};

}  // namespace vk_symbiote
