// A WeightProvider for the mixture-of-experts tests: passes everything to another and records
// the acquires and the router choices (experts_routed), in order.
#pragma once

#include <vector>

#include "memory/WeightProvider.h"

namespace vk_symbiote::test {

// A WeightProvider that passes everything to another and records the acquires and the router
// choices, in order.
class Recorder final : public WeightProvider {
public:
    struct Event {
        bool routing = false;     // experts_routed, else acquire
        TensorId id;              // acquire
        uint32 layer = 0;         // routing
        std::vector<uint32> counts;
        uint32 n_tokens = 0;
    };
    explicit Recorder(WeightProvider& inner) : inner_(inner) {}

    const ModelConfig& config() const override { return inner_.config(); }
    const TensorRegistry& registry() const override { return inner_.registry(); }
    Expected<WeightHandle> acquire(TensorId id) override {
        events.push_back({false, id, 0, {}, 0});
        return inner_.acquire(id);
    }
    ExpectedVoid embedding_row(uint32 token, float* out) override { return inner_.embedding_row(token, out); }
    void hint_upcoming(const std::vector<TensorId>& ids) override { inner_.hint_upcoming(ids); }
    void on_experts_routed(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) override {
        events.push_back({true, {}, layer, counts, n_tokens});
        inner_.experts_routed(layer, counts, n_tokens);
    }
    void retire(const std::vector<TensorId>& ids) override { inner_.retire(ids); }
    bool stable_host_memory() const override { return inner_.stable_host_memory(); }
    uint64 page_alignment() const override { return inner_.page_alignment(); }
    ProviderStats stats() const override { return inner_.stats(); }

    std::vector<Event> events;

private:
    WeightProvider& inner_;
};

}  // namespace vk_symbiote::test
