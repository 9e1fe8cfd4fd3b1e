#include "compression/NoneCodec.h"

#include <cstring>

namespace vk_symbiote {

ExpectedVoid NoneCodec::encode_payload(std::span<const uint8> src, DType, std::vector<uint8>& out) const {
    out.insert(out.end(), src.begin(), src.end());
    return {};
}

ExpectedVoid NoneCodec::decode_payload(std::span<const uint8> payload, DType, std::span<uint8> dst) const {
    if (payload.size() != dst.size())
        return make_error(ErrorCode::Corrupt, "none codec: payload holds " + std::to_string(payload.size()) +
                                                  " bytes, expected " + std::to_string(dst.size()));
    if (!dst.empty()) std::memcpy(dst.data(), payload.data(), dst.size());
    return {};
}

}  // namespace vk_symbiote
