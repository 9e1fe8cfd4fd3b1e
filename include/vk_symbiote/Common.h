// Common vocabulary of vk_symbiote: integer aliases, Path, DType, the error type
// (Expected<T> / ExpectedVoid), PackType and PackMetadata.
//
// Every fallible operation that touches I/O, memory or a device returns Expected<T>:
// either a value or an Error carrying a code and a human-readable context string
// that names the file / field / option involved. Nothing in the engine throws for
// bad input; exceptions are reserved for programming errors (VKS_CHECK).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vk_symbiote {

using uint8 = std::uint8_t;
using uint16 = std::uint16_t;
using uint32 = std::uint32_t;
using uint64 = std::uint64_t;
using int32 = std::int32_t;
using int64 = std::int64_t;
using Path = std::filesystem::path;

// Element type of a weight tensor. Values equal ggml's type ids so GGUF tensor
// tables map 1:1; only the unquantized types are supported by the engine.
enum class DType : uint32 { F32 = 0, F16 = 1, BF16 = 30 };

inline constexpr uint32 dtype_size(DType t) { return t == DType::F32 ? 4u : 2u; }
const char* dtype_name(DType t);

enum class ErrorCode {
    Io,              // open/read/write failed, file changed underneath us
    Format,          // malformed file contents (GGUF, pack cache, INI)
    Unsupported,     // well-formed but not something this engine runs (quantized types, arch)
    InvalidArgument, // bad option / API argument
    Config,          // configuration source error (unknown key, malformed value)
    OutOfMemory,     // an allocation or budget could not be satisfied right now
    BudgetTooSmall,  // a memory budget below the minimum working set
    Device,          // Vulkan / device error (lost device, missing loader)
    NotFound,        // missing tensor / key / file
    Corrupt,         // checksum mismatch, cache does not match model
    Internal,        // invariant violated (should not happen)
};

const char* error_code_name(ErrorCode c);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;  // full context, e.g. "model.gguf: tensor 'blk.0.attn_q.weight': data past end of file"

    std::string to_string() const;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// A value or an Error. Deliberately small: has_value / operator bool / value / error
// / operator* / operator->. value() on an error is a programming bug and aborts with
// the error text (VKS_CHECK semantics), it never silently returns garbage.
template <class T>
class [[nodiscard]] Expected {
public:
    Expected(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    Expected(Error e) : v_(std::in_place_index<1>, std::move(e)) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { check(); return std::get<0>(v_); }
    const T& value() const& { check(); return std::get<0>(v_); }
    T&& value() && { check(); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    void check() const;
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Expected<void> {
public:
    Expected() = default;
    Expected(Error e) : err_(std::move(e)), ok_(false) {}
    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }
    void value() const;

private:
    Error err_;
    bool ok_ = true;
};

using ExpectedVoid = Expected<void>;

[[noreturn]] void fatal_bad_expected_access(const Error& e);

template <class T>
void Expected<T>::check() const {
    if (v_.index() != 0) fatal_bad_expected_access(std::get<1>(v_));
}

// Always-on invariant check for programming errors (not for bad input).
[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);
#define VKS_CHECK(cond, msg)                                                          \
    do {                                                                              \
        if (!(cond)) ::vk_symbiote::check_failed(#cond, __FILE__, __LINE__, (msg));   \
    } while (0)

// Propagate an error from an Expected-returning expression.
#define VKS_TRY(expr)                                   \
    do {                                                \
        auto vks_try_r_ = (expr);                       \
        if (!vks_try_r_) return vks_try_r_.error();     \
    } while (0)

// Kind of weights a pack holds (where in the model it comes from).
enum class PackType : uint32 {
    Embedding = 0,  // rows of token_embd (read on demand, per token)
    Attention = 1,  // a row slice of q/k/v/o projections of one layer
    MLP = 2,        // a row slice of gate/up/down of one layer
    Norm = 3,       // the small per-layer vectors (attn_norm, ffn_norm), bundled
    Output = 4,     // a row slice of the output (lm head) matrix
    OutputNorm = 5, // the final norm vector
    Expert = 6,     // a row slice of one expert's gate/up/down of one layer (mixture of experts)
};

const char* pack_type_name(PackType t);

// One tensor slice inside a pack: rows [row_begin, row_end) of tensor `tensor_name`.
struct PackSlice {
    std::string tensor_name;
    uint64 row_begin = 0;
    uint64 row_end = 0;
    uint64 file_offset = 0;   // absolute byte offset of row_begin in the model file
    uint64 byte_size = 0;     // bytes of the slice (rows * row_bytes)
    uint64 pack_offset = 0;   // where the slice starts inside the pack's buffer
};

// Static description of a pack: what it holds, where it lives on disk, how big it is.
struct PackMetadata {
    uint64 pack_id = 0;
    PackType type = PackType::Attention;
    int32 layer = -1;          // -1 for embedding / output packs
    int32 expert = -1;         // Expert packs: which expert of the layer; -1 otherwise
    uint64 byte_size = 0;      // uncompressed bytes (sum of slices, slice starts aligned)
    uint64 compressed_size = 0;  // 0 when stored raw
    uint32 order = 0;          // position in the per-token use order (0 = first used)
    std::vector<PackSlice> slices;
};

// GPU time of one shader variant (e.g. "matvec_f16_fp16") over the forward passes since
// the last reset_performance_metrics(): filled on the Vulkan path with --enable-profiling
// (timestamp queries around every dispatch), empty otherwise. A dispatch is charged the GPU
// time since the previous dispatch of its command buffer finished, so the kernels' times add
// up to at most total_gpu_time_ns.
struct KernelTime {
    std::string name;
    uint64 dispatches = 0;
    uint64 total_ns = 0;
};

}  // namespace vk_symbiote
