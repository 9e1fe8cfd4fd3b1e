#include "vk_symbiote/Common.h"

#include <cstdio>
#include <cstdlib>

namespace vk_symbiote {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "f32";
        case DType::F16: return "f16";
        case DType::BF16: return "bf16";
    }
    return "?";
}

const char* error_code_name(ErrorCode c) {
    switch (c) {
        case ErrorCode::Io: return "io";
        case ErrorCode::Format: return "format";
        case ErrorCode::Unsupported: return "unsupported";
        case ErrorCode::InvalidArgument: return "invalid-argument";
        case ErrorCode::Config: return "config";
        case ErrorCode::OutOfMemory: return "out-of-memory";
        case ErrorCode::BudgetTooSmall: return "budget-too-small";
        case ErrorCode::Device: return "device";
        case ErrorCode::NotFound: return "not-found";
        case ErrorCode::Corrupt: return "corrupt";
        case ErrorCode::Internal: return "internal";
    }
    return "?";
}

std::string Error::to_string() const { return std::string(error_code_name(code)) + " error: " + message; }

const char* pack_type_name(PackType t) {
    switch (t) {
        case PackType::Embedding: return "embedding";
        case PackType::Attention: return "attention";
        case PackType::MLP: return "mlp";
        case PackType::Norm: return "norm";
        case PackType::Output: return "output";
        case PackType::OutputNorm: return "output_norm";
        case PackType::Expert: return "expert";
    }
    return "?";
}

void fatal_bad_expected_access(const Error& e) {
    std::fprintf(stderr, "vk_symbiote: value() called on an error: %s\n", e.to_string().c_str());
    std::abort();
}

void Expected<void>::value() const {
    if (!ok_) fatal_bad_expected_access(err_);
}

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
    std::fprintf(stderr, "vk_symbiote: invariant failed: %s at %s:%d: %s\n", expr, file, line, msg.c_str());
    std::abort();
}

}  // namespace vk_symbiote
