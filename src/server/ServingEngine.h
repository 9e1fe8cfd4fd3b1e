// ServingEngine: what the server's EngineDriver steps and OpenAiServer describes: the engine's
// submit / step / status / cancel / release (VulkanSymbioteEngine's, one process), or rank 0's
// micro-batches through the pipeline's stages (PipelineServe, `serve --pipeline`).
//
// Thread-safety: the driver's thread calls every method but the four descriptive ones
// (tokenizer, default_options, context_size, describe), which OpenAiServer reads before it.
#pragma once

#include <string>

#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::server {

class ServingEngine {
public:
    virtual ~ServingEngine() = default;
    virtual Expected<GenerationId> submit(const GenerationRequest& req) = 0;
    // One step over the active generations; false: none was left to run.
    virtual Expected<bool> step() = 0;
    virtual GenerationStatus status(GenerationId id) const = 0;
    virtual void cancel(GenerationId id) = 0;
    virtual void release(GenerationId id) = 0;
    virtual PerformanceMetrics metrics() const = 0;
    virtual void reset_metrics() = 0;

    virtual const Tokenizer& tokenizer() const = 0;
    virtual GenerationOptions default_options() const = 0;
    virtual uint32 context_size() const = 0;
    virtual std::string describe() const = 0;

    // With nothing to run, the driver calls idle() at least every idle_period_s() seconds
    // (0: never; the pipeline's keep-alive).
    virtual double idle_period_s() const { return 0; }
    virtual ExpectedVoid idle() { return {}; }
};

// One process's engine (the engine outlives it).
class EngineServing final : public ServingEngine {
public:
    explicit EngineServing(VulkanSymbioteEngine& engine) : engine_(engine) {}
    Expected<GenerationId> submit(const GenerationRequest& req) override { return engine_.submit(req); }
    Expected<bool> step() override { return engine_.step(); }
    GenerationStatus status(GenerationId id) const override { return engine_.status(id); }
    void cancel(GenerationId id) override { engine_.cancel(id); }
    void release(GenerationId id) override { engine_.release(id); }
    PerformanceMetrics metrics() const override { return engine_.get_performance_metrics(); }
    void reset_metrics() override { engine_.reset_performance_metrics(); }
    const Tokenizer& tokenizer() const override { return engine_.tokenizer(); }
    GenerationOptions default_options() const override { return engine_.default_generation_options(); }
    uint32 context_size() const override { return engine_.context_size(); }
    std::string describe() const override { return engine_.describe(); }

private:
    VulkanSymbioteEngine& engine_;
};

}  // namespace vk_symbiote::server
