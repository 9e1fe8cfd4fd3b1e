#include "server/PipelineServe.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "engine/CliSupport.h"
#include "engine/SequenceRequests.h"
#include "pipeline/PipelineReport.h"
#include "pipeline/PipelineScheduler.h"
#include "server/OpenAiServer.h"
#include "server/StopOnSignal.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::server {

namespace {

using pipeline::PipelineScheduler;
using pipeline::PipelineStage;

// The keep-alive comes this many times per --pipeline-timeout.
constexpr double kIdlePerTimeout = 4;

// Rank 0's engine for the server: the scheduler over the stages. An error of the stages ends
// every rank at once (the ranks would be out of step): no request waits for a step that will
// not come.
class PipelineServing final : public ServingEngine {
public:
    PipelineServing(PipelineStage& stage, PipelineScheduler& sched, const ConfigManager& cfg)
        : stage_(stage), sched_(sched), options_(generation_options(cfg.sampling())), idle_s_(cfg.pipeline().timeout_s / kIdlePerTimeout) {}

    Expected<GenerationId> submit(const GenerationRequest& req) override { return sched_.submit(sequence_request(req, tokenizer())); }
    Expected<bool> step() override {
        auto r = sched_.step();
        if (!r) fatal(r.error());
        return r;
    }
    GenerationStatus status(GenerationId id) const override { return sched_.status(id); }
    void cancel(GenerationId id) override { sched_.cancel(id); }
    void release(GenerationId id) override { sched_.release(id); }
    PerformanceMetrics metrics() const override;
    void reset_metrics() override {}  // the scheduler counts from the server's start
    const Tokenizer& tokenizer() const override { return stage_.model().tokenizer(); }
    GenerationOptions default_options() const override { return options_; }
    uint32 context_size() const override { return stage_.n_ctx(); }
    std::string describe() const override { return "pipeline of " + std::to_string(stage_.link().size()) + " ranks; " + stage_.describe(); }
    double idle_period_s() const override { return idle_s_; }
    ExpectedVoid idle() override {
        if (auto ok = stage_.keepalive(); !ok) fatal(ok.error());
        return {};
    }

private:
    [[noreturn]] void fatal(const Error& e) {
        tool::fail(e);
        stage_.link().abort(1);
        std::_Exit(1);  // abort() does not return; this is for the compiler
    }

    PipelineStage& stage_;
    PipelineScheduler& sched_;
    const GenerationOptions options_;
    const double idle_s_;
};

PerformanceMetrics PipelineServing::metrics() const {
    const pipeline::PipelineSchedulerStats& s = sched_.stats();
    PerformanceMetrics m;
    m.backend = "pipeline (" + std::to_string(stage_.link().size()) + " ranks)";
    m.scheduling = "micro-batches through the stages: " + std::to_string(sched_.groups()) + " of the " + std::to_string(stage_.n_slots()) +
                   " sequence slots' groups in flight at once";
    m.peak_sequences_per_pass = s.peak_sequences;
    m.total_prompt_tokens = s.prompt_tokens;
    m.total_generated_tokens = s.generated_tokens;
    m.pipeline_micro_batches = s.micro_batches;
    m.pipeline_peak_in_flight = s.peak_in_flight;
    return m;
}

// Rank 0: serves until SIGINT / SIGTERM, then collects what is in flight, stops the other
// ranks and prints the micro-batch count (and with --stats every rank's report).
ExpectedVoid lead(PipelineStage& stage, const ConfigManager& cfg, const Path& model) {
    PipelineScheduler sched(stage);
    PipelineServing engine(stage, sched, cfg);
    {
        auto server = OpenAiServer::create(engine, cfg, model);
        if (!server) return server.error();
        auto port = (*server)->bind();
        if (!port) return port.error();
        StopOnSignal on_signal([&] { (*server)->stop(); });
        std::fprintf(stderr, "serve: %s\nserve: rank 0 is process %d (SIGINT / SIGTERM to it ends every rank)\nserve: listening on http://%s:%d\n",
                     engine.describe().c_str(), int(::getpid()), cfg.server().host.c_str(), *port);
        std::fflush(stderr);
        VKS_TRY((*server)->listen());
    }  // the server's engine thread is joined here: the link is this thread's again
    VKS_TRY(sched.drain());
    VKS_TRY(stage.finish());
    auto reports = pipeline::gather_reports(stage);
    if (!reports) return reports.error();
    const pipeline::PipelineSchedulerStats& s = sched.stats();
    std::fprintf(stderr, "serve: stopped; %llu micro-batches through %u ranks, at most %u in flight at once\n", (unsigned long long)s.micro_batches,
                 stage.link().size(), s.peak_in_flight);
    if (cfg.sampling().stats || cfg.logging().verbose) std::fprintf(stderr, "%s", pipeline::reports_text(*reports).c_str());
    return {};
}

}  // namespace

int run_pipeline_serve(const ConfigManager& given, const Path& model) {
    ConfigManager cfg = given;
    cfg.server().prompt_cache = 0;  // no kept KV caches through the stages (docs/pipeline.md)
    auto link = pipeline::open_mpi_link(cfg.pipeline().timeout_s);
    if (!link) return tool::fail(link.error());
    pipeline::PipelineLink& l = **link;
    auto stage = PipelineStage::open(l, cfg, model);
    if (!stage) {
        tool::fail(stage.error());
        l.abort(1);
    }
    std::fprintf(stderr, "pipeline: %s\n", (*stage)->describe().c_str());
    auto r = l.rank() != 0 ? (*stage)->serve() : lead(**stage, cfg, model);
    if (!r) {
        tool::fail(r.error());
        l.abort(1);
    }
    return 0;
}

}  // namespace vk_symbiote::server
