#include "PipelineCases.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "MpiRun.h"
#include "packs/PackWeightProvider.h"
#include "support/TestPaths.h"

namespace vk_symbiote::test {

std::string common_args(const std::string& model) {
    return " --model " + (models_dir() / model).string() + " --ctx-size " + std::to_string(kCtx) + " --threads 1 --io-threads 1 --log-level ERROR --cache-dir " +
           (tmp_dir() / "packs").string();
}

// A --budgets entry (RAM GiB : speed) that forces `model` through 4 KiB packs on its rank: the
// pack path's minimum (one I/O thread) plus a few packs; speed 3 / RAM gives it the weight of
// "0:3", so that it holds more layers than that minimum leaves room for.
std::string tiny_ram_entry(const std::string& model) {
    PackOptions o;
    o.max_pack_bytes = kPack;
    o.io_threads = 1;
    auto g = open_model_source(models_dir() / model);
    EXPECT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg);
    o.activation_kv_bytes = estimate_activation_kv_bytes(*cfg, kCtx, 512, kCtx);
    auto min = PackWeightProvider::minimum_ram_budget(models_dir() / model, o);
    EXPECT_TRUE(min) << min.error().message;
    const double gb = double(*min + o.io_threads * (kPack + 4 * 4096) + 8 * pack_buffer_bytes(kPack)) / 1073741824.0;
    char buf[96];
    std::snprintf(buf, sizeof buf, "0:%.17g:%.17g", gb, 3.0 / gb);
    return buf;
}

// Every prompt position's logits through `ranks` ranks, as the reference case's shape.
std::vector<float> pipeline_logits(const ReferenceCase& c, uint32 ranks, const std::string& extra, std::string* log) {
    std::string toks;
    for (uint32 t : c.prompt_tokens) toks += (toks.empty() ? "" : ",") + std::to_string(t);
    const Path out = tmp_dir() / (c.name + "." + std::to_string(ranks) + ".f32");
    std::remove(out.c_str());
    double s = 0;
    auto r = run_timed(mpirun(ranks) + build_program("vks_pipeline_logits") + " " + out.string() + " " + toks + common_args(c.model) + extra, s);
    EXPECT_EQ(r.status, 0) << r.out;
    if (log) *log = r.out;
    // Every rank says where its weights are; a tiny --budgets entry puts one rank on packs.
    const bool packs = extra.find("--max-pack-mb") != std::string::npos;
    EXPECT_EQ(r.out.find("weights streamed in packs") != std::string::npos, packs) << r.out;
    std::vector<float> logits(c.prompt_tokens.size() * c.n_vocab);
    std::ifstream f(out, std::ios::binary);
    f.read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * sizeof(float)));
    EXPECT_TRUE(f) << "no logits from " << r.out;
    return logits;
}

void expect_matches_reference(const ReferenceCase& c, const std::vector<float>& logits, const std::string& what) {
    for (size_t p = 0; p < c.prompt_tokens.size(); ++p) {
        const float* got = logits.data() + p * c.n_vocab;
        EXPECT_LT(nmse(got, c.logits_at(p), c.n_vocab), c.tolerance()) << c.name << " " << what << " position " << p;
        if (c.decisive(p)) {
            EXPECT_EQ(argmax(got, c.n_vocab), argmax(c.logits_at(p), c.n_vocab)) << c.name << " " << what << " position " << p;
        }
    }
}

nlohmann::json generate_json(uint32 ranks, const std::string& model, const std::string& prompt, uint32 max_tokens, const std::string& extra) {
    auto r = run_command(mpirun(ranks) + build_program("vk_symbiote") + " generate --pipeline --json --temperature 0 --max-tokens " + std::to_string(max_tokens) +
                         " --prompt '" + prompt + "'" + common_args(model) + extra);
    EXPECT_EQ(r.status, 0) << r.out;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out;
    return doc;
}

Path heldout_text_file(int sentences) {
    static const char* const kSentences[] = {
        "Tom had a small red boat. ", "He took it to the pond every morning. ", "One day the wind was very strong. ",
        "The boat went far away from the shore. ", "Tom was sad and sat on a big rock. ", "A kind duck swam to the boat and pushed it back. ",
        "Tom smiled and said thank you to the duck. ", "They played together until the sun went down. ", "His mom called him home for dinner. ",
        "Tom told her about the brave duck. ", "She laughed and gave him a warm hug. ", "That night Tom dreamed of boats and ducks. ",
    };
    const Path path = tmp_dir() / ("pipeline-heldout-" + std::to_string(sentences) + ".txt");
    std::ofstream f(path);
    for (int i = 0; i < sentences; ++i) f << kSentences[(i * 5) % 12];  // every sentence, in a shuffled order
    return path;
}

double printed_ppl(const std::string& out) {
    const size_t at = out.find("PPL: ");
    return at == std::string::npos ? std::nan("") : std::strtod(out.c_str() + at + 5, nullptr);
}

}  // namespace vk_symbiote::test
