// vks_pipeline_logits: the tests' window into a pipeline's logits. Under
// `mpirun -np N vks_pipeline_logits OUT TOKENS [engine options...]` every rank opens its
// PipelineStage (the options as vk_symbiote takes them: --model, --budgets, --ram-gb, ...);
// rank 0 runs the comma-separated TOKENS in one step with every position's logits and writes
// them to OUT as raw f32 (len(TOKENS), n_vocab), then the ranks stop. Errors end every rank.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/CliSupport.h"
#include "pipeline/PipelineReport.h"
#include "pipeline/PipelineStage.h"
#include "vk_symbiote/ConfigManager.h"

using namespace vk_symbiote;

namespace {

std::vector<uint32> parse_tokens(const std::string& csv) {
    std::vector<uint32> out;
    std::stringstream ss(csv);
    for (std::string t; std::getline(ss, t, ',');) out.push_back(uint32(std::stoul(t)));
    return out;
}

ExpectedVoid write_logits(pipeline::PipelineStage& stage, const std::string& out_path, const std::vector<uint32>& tokens) {
    std::vector<float> logits(tokens.size() * stage.model().config().n_vocab);  // (tokens, n_vocab)
    VKS_TRY(stage.forward(tokens.data(), uint32(tokens.size()), 0, true, logits.data()));
    VKS_TRY(stage.finish());
    auto reports = pipeline::gather_reports(stage);  // every rank > 0 sends one after the stop
    if (!reports) return reports.error();
    std::ofstream f(out_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * sizeof(float)));
    if (!f) return make_error(ErrorCode::Io, out_path + ": cannot write the logits");
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: vks_pipeline_logits OUT.f32 TOKEN,TOKEN,... [engine options]\n");
        return 2;
    }
    const std::string out_path = argv[1];
    const std::vector<uint32> tokens = parse_tokens(argv[2]);
    argv[2] = argv[0];  // the options parser skips its first argument (the program name)
    ConfigManager cfg;
    if (int rc = tool::load_config(cfg, argc - 2, argv + 2, "vks_pipeline_logits"); rc >= 0) return rc;
    auto model = tool::model_path(cfg);
    if (!model) return tool::fail(model.error());
    auto link = pipeline::open_mpi_link(cfg.pipeline().timeout_s);
    if (!link) return tool::fail(link.error());
    auto stage = pipeline::PipelineStage::open(**link, cfg, *model);
    if (!stage) {
        tool::fail(stage.error());
        (*link)->abort(1);
    }
    std::fprintf(stderr, "pipeline: %s\n", (*stage)->describe().c_str());
    auto r = (*link)->rank() == 0 ? write_logits(**stage, out_path, tokens) : (*stage)->serve();
    if (!r) {
        tool::fail(r.error());
        (*link)->abort(1);
    }
    return 0;
}
