#include "compression/Compression.h"

#include <functional>

#include "compression/BloscCodec.h"
#include "compression/ExponentCodec.h"
#include "compression/NoneCodec.h"
#include "compression/ZfpCodec.h"

namespace vk_symbiote {

namespace {

using Factory = std::function<std::unique_ptr<CompressionBackend>(const CodecOptions&)>;

struct Row {
    CodecDescription desc;
    Factory make;  // empty for aliases
};

Factory blosc(const char* name, const char* compressor, BloscShuffle shuffle) {
    return [=](const CodecOptions& o) {
        return std::make_unique<BloscCodec>(name, compressor, shuffle, o.level, o.threads);
    };
}

const std::vector<Row>& rows() {
    static const std::vector<Row> table = {
        {{"none", "", "no compression (checksummed frame)"},
         [](const CodecOptions&) { return std::make_unique<NoneCodec>(); }},
        {{"blosc-zstd", "", "blosc 1.x, byte shuffle, zstd"}, blosc("blosc-zstd", "zstd", BloscShuffle::Byte)},
        {{"blosc-zstd-bit", "", "blosc 1.x, bit shuffle, zstd"}, blosc("blosc-zstd-bit", "zstd", BloscShuffle::Bit)},
        {{"blosc-lz4", "", "blosc 1.x, byte shuffle, lz4"}, blosc("blosc-lz4", "lz4", BloscShuffle::Byte)},
        {{"blosc-lz4-bit", "", "blosc 1.x, bit shuffle, lz4"}, blosc("blosc-lz4-bit", "lz4", BloscShuffle::Bit)},
        {{"zfp", "", "zfp reversible (lossless), f32 only"},
         [](const CodecOptions&) { return std::make_unique<ZfpCodec>(); }},
        {{"exponent", "", "exponent bytes entropy-coded with rANS, sign+mantissa raw"},
         [](const CodecOptions&) { return std::make_unique<ExponentCodec>(ExponentCodec::Entropy::Rans); }},
        {{"exponent-zstd", "", "exponent bytes entropy-coded with zstd (level 19), sign+mantissa raw"},
         [](const CodecOptions& o) { return std::make_unique<ExponentCodec>(ExponentCodec::Entropy::Zstd, o.level); }},
        {{"blosc", "blosc-zstd", "alias"}, {}},
        {{"blosc2", "blosc-zstd", "the product's name; Debian 12 has only c-blosc 1.x"}, {}},
    };
    return table;
}

}  // namespace

const std::vector<CodecDescription>& codec_table() {
    static const std::vector<CodecDescription> descs = [] {
        std::vector<CodecDescription> d;
        for (const auto& r : rows()) d.push_back(r.desc);
        return d;
    }();
    return descs;
}

std::vector<std::string> canonical_codec_names() {
    std::vector<std::string> names;
    for (const auto& r : rows())
        if (r.desc.alias_of.empty()) names.push_back(r.desc.name);
    return names;
}

Expected<std::unique_ptr<CompressionBackend>> make_codec(std::string_view name, const CodecOptions& opts) {
    std::string_view target = name;
    for (const auto& r : rows())
        if (r.desc.name == name && !r.desc.alias_of.empty()) target = r.desc.alias_of;
    for (const auto& r : rows())
        if (r.desc.name == target && r.make) return r.make(opts);
    std::string valid;
    for (const auto& r : rows()) valid += (valid.empty() ? "" : ", ") + r.desc.name;
    return make_error(ErrorCode::InvalidArgument,
                      "compression_algorithm: unknown codec '" + std::string(name) + "' (valid: " + valid + ")");
}

ExpectedVoid decompress_frame(std::span<const uint8> frame, std::span<uint8> dst, int threads) {
    auto info = verify_frame(frame, dst);
    if (!info) return info.error();
    const auto payload = frame.subspan(kFrameHeaderSize, info->payload_size);
    switch (info->codec) {
        case CodecId::None: return NoneCodec().decode_payload(payload, info->dtype, dst);
        case CodecId::Blosc:
            // Decoding reads compressor and shuffle from blosc's own chunk headers.
            return BloscCodec("blosc", "zstd", BloscShuffle::Byte, -1, threads).decode_payload(payload, info->dtype, dst);
        case CodecId::Zfp: return ZfpCodec().decode_payload(payload, info->dtype, dst);
        case CodecId::Exponent: return ExponentCodec().decode_payload(payload, info->dtype, dst);
    }
    return make_error(ErrorCode::Format, "compressed frame: unknown codec");
}

}  // namespace vk_symbiote
