// FileWeightProvider: the simplest WeightProvider. Every tensor it is asked for is read
// whole from the GGUF file on first use and stays in RAM until the provider dies; each
// tensor comes back as ONE slice covering all its rows. Embedding rows are read one row
// at a time with a ranged read (the table is never loaded whole for embedding lookups).
// The engine uses it when the model fits --ram-gb (else PackWeightProvider).
//
// Thread-safety: acquire() and embedding_row() may be called from several threads; a
// tensor is loaded exactly once (under a mutex). Returned slices stay valid for the
// provider's lifetime (handles pin nothing: nothing is ever evicted).
//
// Tensor buffers start at a kBufferAlignment boundary and are padded to a multiple of it,
// so a GPU can import them as host memory and DMA from them (stable_host_memory()).
#pragma once

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "gguf/ModelSource.h"
#include "model/LoadedModel.h"
#include "memory/WeightProvider.h"

namespace vk_symbiote {

class FileWeightProvider final : public WeightProvider {
public:
    // Whole tensors of `model`, read on first use.
    static std::unique_ptr<FileWeightProvider> open(std::shared_ptr<const LoadedModel> model);
    // Opens and parses the file first (LoadedModel::open without the tokenizer). Errors name the file.
    static Expected<std::unique_ptr<FileWeightProvider>> open(const Path& model_path);

    const ModelConfig& config() const override { return model_->config(); }
    const TensorRegistry& registry() const override { return model_->registry(); }
    Expected<WeightHandle> acquire(TensorId id) override;
    ExpectedVoid embedding_row(uint32 token, float* out) override;
    bool stable_host_memory() const override { return true; }
    uint64 page_alignment() const override { return kBufferAlignment; }
    ProviderStats stats() const override { return {.bytes_read = loaded_bytes()}; }
    static constexpr uint64 kBufferAlignment = uint64(64) << 10;
    static constexpr uint64 kHugePage = uint64(2) << 20;  // tensors of at least this size: aligned to it, THP advised

    const ModelSource& source() const { return model_->source(); }
    // Bytes of tensor data held in RAM (whole tensors loaded by acquire()).
    uint64 loaded_bytes() const;
    // Number of acquire() calls so far (tests check the forward pass uses the provider).
    uint64 acquire_count() const;
    // Called after each tensor is read into RAM (under the provider's lock, from the thread
    // that acquired it) with the bytes read so far and expected_bytes(): progress lines.
    using LoadProgress = std::function<void(uint64 loaded, uint64 total)>;
    void on_load(LoadProgress fn) { on_load_ = std::move(fn); }
    // The bytes a forward pass loads: every acquired tensor once (not the embedding table).
    uint64 expected_bytes() const;

private:
    FileWeightProvider() = default;
    // The whole tensor `d` in RAM; loads it on first use. Tied tensors (same file offset)
    // share one buffer.
    struct Buffer {
        uint8* data = nullptr;
        uint64 size = 0;  // tensor bytes (capacity: rounded up to kBufferAlignment)
        ~Buffer() { std::free(data); }
    };
    Expected<const Buffer*> load(const TensorDesc& d);

    std::shared_ptr<const LoadedModel> model_;
    mutable std::mutex mu_;
    std::map<uint64, std::unique_ptr<Buffer>> loaded_;  // file_offset -> bytes; guarded by mu_
    uint64 acquires_ = 0;                                           // guarded by mu_
    uint64 loaded_total_ = 0;                                       // guarded by mu_
    LoadProgress on_load_;
};

}  // namespace vk_symbiote
