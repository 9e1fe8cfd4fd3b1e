// End-to-end tests of the public API (VulkanSymbioteEngine) and of the command-line
// programs, against ../shared/reference.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/CpuKernels.h"
#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/VulkanBackend.h"
#endif
#include "engine/BackendSelector.h"
#include "model/ModelConfig.h"
#include "model/Tokenizer.h"
#include "runtime/Perplexity.h"
#include "support/ReferenceCase.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

ConfigManager cpu_config(std::vector<std::string> extra = {}) {
    ConfigManager c;
    std::vector<std::string> args = {"--disable-gpu", "--log-level", "WARNING"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

using Cmd = test::CommandResult;

// Runs a shell command, capturing stdout (stderr goes to the test log).
Cmd run(const std::string& cmd) { return test::run_command(cmd); }

std::string tool(const char* name) { return (Path(VKS_TEST_BINARY_DIR) / name).string(); }
std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

class EngineReference : public ::testing::TestWithParam<std::string> {};

// The prompt text tokenized by the engine reproduces the reference tokens, and the
// engine's logits for every position reproduce the reference within its tolerance.
TEST_P(EngineReference, PromptTextToLogits) {
    auto rc = test::load_reference_case(GetParam());
    ASSERT_TRUE(rc) << rc.error().to_string();
    ConfigManager cfg = cpu_config();
    auto eng = VulkanSymbioteEngine::create(test::models_dir() / rc->model, cfg);
    ASSERT_TRUE(eng) << eng.error().to_string();
    std::vector<uint32> toks = (*eng)->encode(rc->prompt);
    ASSERT_EQ(toks, rc->prompt_tokens);
    auto logits = (*eng)->evaluate(toks);
    ASSERT_TRUE(logits) << logits.error().to_string();
    ASSERT_EQ(logits->size(), rc->logits.size());
    for (size_t p = 0; p < toks.size(); ++p) {
        const float* a = logits->data() + p * rc->n_vocab;
        EXPECT_LT(test::nmse(a, rc->logits_at(p), rc->n_vocab), rc->tolerance()) << "position " << p;
        if (rc->decisive(p)) {
            EXPECT_EQ(test::argmax(a, rc->n_vocab), test::argmax(rc->logits_at(p), rc->n_vocab)) << "position " << p;
        }
    }
    const PerformanceMetrics& m = (*eng)->get_performance_metrics();
    EXPECT_EQ(m.total_inferences, (toks.size() + 511) / 512) << "one forward pass per batch of up to --step-tokens (512)";
    EXPECT_GT(m.total_inference_time_ns, 0u);
    EXPECT_EQ(m.backend, "cpu");
    // The last position only: the same logits as the last row above.
    auto last = (*eng)->evaluate(toks, false);
    ASSERT_TRUE(last) << last.error().to_string();
    ASSERT_EQ(last->size(), size_t(rc->n_vocab));
    const float* full_last = logits->data() + (toks.size() - 1) * rc->n_vocab;
    EXPECT_LT(test::nmse(last->data(), full_last, rc->n_vocab), 1e-9);
    EXPECT_LT(test::nmse(last->data(), rc->logits_at(toks.size() - 1), rc->n_vocab), rc->tolerance());
}

INSTANTIATE_TEST_SUITE_P(AllCases, EngineReference, ::testing::ValuesIn(test::list_reference_cases()),
                         test::CaseName{});

TEST(Engine, GreedyOnceUponATimeMatchesReference) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    ConfigManager cfg = cpu_config();
    auto eng = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", cfg);
    ASSERT_TRUE(eng) << eng.error().to_string();
    GenerationOptions o;
    o.temperature = 0;
    o.max_tokens = uint32(rc->greedy_tokens.size());
    std::vector<uint32> out;
    std::string streamed;
    auto text = (*eng)->generate_tokens(rc->prompt_tokens, o, [&](const std::string& piece, uint32) {
        streamed += piece;
        return true;
    }, &out);
    ASSERT_TRUE(text) << text.error().to_string();
    EXPECT_EQ(out, rc->greedy_tokens);
    EXPECT_EQ(streamed, *text);
    EXPECT_EQ(text->rfind(", there was a little girl named Lily.", 0), 0u) << *text;
    const PerformanceMetrics& m = (*eng)->get_performance_metrics();
    EXPECT_EQ(m.total_generated_tokens, rc->greedy_tokens.size());
    EXPECT_GT(m.average_tokens_per_second, 0);
    EXPECT_EQ(m.total_inferences, rc->greedy_tokens.size());  // 1 prompt pass + one per token but the last
    (*eng)->reset_performance_metrics();
    EXPECT_EQ((*eng)->get_performance_metrics().total_inferences, 0u);
}

TEST(Engine, DocumentedConstructorAndGenerate) {
    ConfigManager::instance() = cpu_config();
    VulkanSymbioteEngine engine(test::models_dir() / "stories260K.gguf");
    std::string s = engine.generate("Once upon a time", 20, 0.0f);
    EXPECT_FALSE(s.empty());
    EXPECT_EQ(engine.decode(engine.encode("Once upon a time")), "Once upon a time");
    EXPECT_THROW(VulkanSymbioteEngine bad(test::tmp_dir() / "missing.gguf"), EngineError);
}

TEST(Engine, SeededSamplingIsReproducible) {
    ConfigManager cfg = cpu_config({"--seed", "42", "--temperature", "0.9"});
    auto eng = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", cfg);
    ASSERT_TRUE(eng);
    GenerationOptions o = (*eng)->default_generation_options();
    ASSERT_TRUE(o.seed.has_value());
    o.max_tokens = 40;
    auto a = (*eng)->generate_stream("Once upon a time", o, {});
    auto b = (*eng)->generate_stream("Once upon a time", o, {});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*a, *b);
}

TEST(Engine, ErrorsAreValuesNotCrashes) {
    ConfigManager cfg = cpu_config();
    auto missing = VulkanSymbioteEngine::create(test::tmp_dir() / "nope.gguf", cfg);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("nope.gguf"), std::string::npos);
    auto vocab_only = VulkanSymbioteEngine::create(test::tokenizer_tests_dir() / "ggml-vocab-llama-spm.gguf", cfg);
    ASSERT_FALSE(vocab_only);  // no weights: a clear error naming the file
    EXPECT_NE(vocab_only.error().message.find("ggml-vocab-llama-spm.gguf"), std::string::npos);
    auto eng = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", cfg);
    ASSERT_TRUE(eng);
    auto bad = (*eng)->evaluate({1, 99999});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
}

// ---- the command-line programs ---------------------------------------------------------

TEST(Cli, GenerateStreamsTheGreedyContinuationToStdout) {
    std::string model = (test::models_dir() / "stories260K.gguf").string();
    Cmd c = run(tool("vk_symbiote") + " generate --disable-gpu --model " + q(model) + " --prompt 'Once upon a time' --temperature 0 --max-tokens 12 2>/dev/null");
    EXPECT_EQ(c.status, 0);
    EXPECT_EQ(c.out.rfind(", there was a little girl named Lily.", 0), 0u) << c.out;
    // --prompt-file feeds its bytes exactly: the same text in a file gives the same output.
    Path pf = test::tmp_dir() / "prompt.txt";
    std::ofstream(pf, std::ios::binary) << "Once upon a time";
    Cmd f = run(tool("vk_symbiote") + " --disable-gpu --model " + q(model) + " --prompt-file " + q(pf.string()) + " --temperature 0 --max-tokens 12 2>/dev/null");
    EXPECT_EQ(f.status, 0);
    EXPECT_EQ(f.out, c.out);
}

TEST(Cli, TokenizeWorksOnVocabularyOnlyFiles) {
    Path vocab = test::tokenizer_tests_dir() / "ggml-vocab-llama-spm.gguf";
    auto tok = test::load_tokenizer(vocab);
    ASSERT_TRUE(tok);
    std::string text = "Hello world <s>";
    auto expect = [&](bool raw) {
        std::string s;
        for (uint32 id : tok->encode(text, !raw, !raw)) s += (s.empty() ? "" : " ") + std::to_string(id);
        return s + "\n";
    };
    Cmd with = run(tool("vk_symbiote") + " tokenize --model " + q(vocab.string()) + " --prompt " + q(text));
    EXPECT_EQ(with.status, 0);
    EXPECT_EQ(with.out, expect(false));
    EXPECT_EQ(with.out.rfind("1 ", 0), 0u);  // BOS first
    Cmd raw = run(tool("vk_symbiote") + " tokenize --raw --model " + q(vocab.string()) + " --prompt " + q(text));
    EXPECT_EQ(raw.out, expect(true));
    EXPECT_NE(raw.out, with.out);
}

// Perplexity through the CLI equals the value computed here directly from llama.cpp's
// reference logits (independent of the engine): one chunk = the reference prompt.
TEST(Cli, PerplexityMatchesTheReferenceLogits) {
    auto rc = test::load_reference_case("stories260K.park");
    ASSERT_TRUE(rc);
    std::ifstream jf(test::reference_dir() / "stories260K.park.json");
    nlohmann::json j = nlohmann::json::parse(jf);
    const uint32 n = uint32(rc->prompt_tokens.size());
    double nll = 0;
    uint32 scored = 0;
    for (uint32 i = n / 2; i + 1 < n; ++i, ++scored) {
        const float* l = rc->logits_at(i);
        double mx = -1e30, sum = 0;
        for (uint32 v = 0; v < rc->n_vocab; ++v) mx = std::max<double>(mx, l[v]);
        for (uint32 v = 0; v < rc->n_vocab; ++v) sum += std::exp(double(l[v]) - mx);
        nll += -(double(l[rc->prompt_tokens[i + 1]]) - mx - std::log(sum));
    }
    double expected = std::exp(nll / scored);
    Path pf = test::tmp_dir() / "ppl.txt";
    std::ofstream(pf, std::ios::binary) << j["prompt"].get<std::string>();
    std::string model = (test::models_dir() / "stories260K.gguf").string();
    Cmd c = run(tool("vk_symbiote") + " perplexity --disable-gpu --model " + q(model) + " --prompt-file " + q(pf.string()) + " --ctx-size " +
                std::to_string(n) + " 2>/dev/null");
    ASSERT_EQ(c.status, 0) << c.out;
    auto last = c.out.rfind("PPL: ");
    ASSERT_NE(last, std::string::npos) << c.out;
    EXPECT_EQ(c.out.find('\n', last), c.out.size() - 1);  // it is the last line
    double got = std::stod(c.out.substr(last + 5));
    EXPECT_NEAR(got, expected, 1e-3 * expected) << c.out;
    EXPECT_GT(expected, 1.0);
}

TEST(Cli, BadOptionsAreClearErrors) {
    Cmd c = run(tool("vk_symbiote") + " --vram-gb abc 2>&1");
    EXPECT_EQ(c.status, 2);
    EXPECT_NE(c.out.find("--vram-gb"), std::string::npos) << c.out;
    Cmd u = run(tool("vk_symbiote") + " --no-such-option 2>&1");
    EXPECT_EQ(u.status, 2);
    EXPECT_NE(u.out.find("no-such-option"), std::string::npos) << u.out;
    Cmd m = run(tool("vk_symbiote") + " --disable-gpu --model /nonexistent/x.gguf --prompt hi 2>&1");
    EXPECT_EQ(m.status, 1);
    EXPECT_NE(m.out.find("x.gguf"), std::string::npos) << m.out;
    Cmd h = run(tool("vk_symbiote") + " --help");
    EXPECT_EQ(h.status, 0);
    EXPECT_NE(h.out.find("--eviction-aggression"), std::string::npos);
}

// Issue 26: output lost to a full device or a closed stdout exited 0.
TEST(Cli, LostStdoutIsAnError) {
    const std::string model = (test::models_dir() / "stories260K.gguf").string();
    const std::string gen = tool("vk_symbiote") + " generate --disable-gpu --model " + q(model) + " --prompt 'Once upon a time' --temperature 0 --max-tokens 4";
    Cmd full = run(gen + " 2>&1 >/dev/full");
    EXPECT_EQ(full.status, 1) << full.out;
    EXPECT_NE(full.out.find("error: writing to stdout failed"), std::string::npos) << full.out;
    Cmd closed = run(gen + " 2>&1 >&-");
    EXPECT_EQ(closed.status, 1) << closed.out;
    EXPECT_NE(closed.out.find("stdout is closed"), std::string::npos) << closed.out;
    Cmd tok = run(tool("vk_symbiote") + " tokenize --model " + q(model) + " --prompt hi 2>&1 >/dev/full");
    EXPECT_EQ(tok.status, 1) << tok.out;
    EXPECT_NE(tok.out.find("error: writing to stdout failed"), std::string::npos) << tok.out;
}

// Issue 26: a directory as --prompt-file was an empty prompt, /dev/zero grew until killed,
// --prompt with --prompt-file let the file win silently, a FIFO as --model blocked.
TEST(Cli, PromptAndModelFileMistakesAreClearErrors) {
    const std::string model = (test::models_dir() / "stories260K.gguf").string();
    const std::string gen = tool("vk_symbiote") + " generate --disable-gpu --temperature 0 --max-tokens 2";
    Cmd dir = run(gen + " --model " + q(model) + " --prompt-file " + q(test::tmp_dir().string()) + " 2>&1");
    EXPECT_EQ(dir.status, 1) << dir.out;
    EXPECT_NE(dir.out.find(": --prompt-file is a directory"), std::string::npos) << dir.out;
    // The address-space limit turns the old unbounded read into a quick failure, not a swap storm.
    Cmd zero = run("(ulimit -v 8000000; " + gen + " --model " + q(model) + " --prompt-file /dev/zero) 2>&1");
    EXPECT_EQ(zero.status, 1) << zero.out.substr(0, 2000);
    EXPECT_NE(zero.out.find("/dev/zero: --prompt-file is larger than the limit of 64 MiB"), std::string::npos) << zero.out.substr(0, 2000);
    const Path pf = test::tmp_dir() / "both.txt";
    std::ofstream(pf, std::ios::binary) << "Once upon a time";
    Cmd both = run(gen + " --model " + q(model) + " --prompt hi --prompt-file " + q(pf.string()) + " 2>&1");
    EXPECT_EQ(both.status, 1) << both.out;
    EXPECT_NE(both.out.find("--prompt and --prompt-file are both given"), std::string::npos) << both.out;
    const Path fifo = test::tmp_dir() / "model.fifo";
    std::filesystem::remove(fifo);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Cmd f = run("timeout 30 " + gen + " --model " + q(fifo.string()) + " --prompt hi 2>&1");
    EXPECT_EQ(f.status, 1) << f.out;  // 124: timed out in open()
    EXPECT_NE(f.out.find("model.fifo: not a regular file"), std::string::npos) << f.out;
}

TEST(Cli, ExampleProgramStreamsAndPrintsStats) {
    std::string model = (test::models_dir() / "stories260K.gguf").string();
    Cmd c = run(tool("vk_symbiote_example") + " --disable-gpu --model " + q(model) + " --prompt 'Once upon a time' --temperature 0 --max-tokens 8 2>&1");
    EXPECT_EQ(c.status, 0);
    EXPECT_NE(c.out.find(", there was a little girl"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("tokens/s"), std::string::npos) << c.out;
}

// The engine's Vulkan path (forced onto lavapipe by --device-index, since the engine
// otherwise prefers the native CPU path over a software Vulkan device) reproduces the
// reference too.
TEST(EngineVulkan, ReferenceLogitsThroughTheEngine) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc);
    ConfigManager c;
    std::vector<std::string> args = {"--device-index", "0", "--log-level", "WARNING", "--ctx-size", "64"};
    ASSERT_TRUE(c.load(args, [](std::string_view) { return std::optional<std::string>(); }));
    auto eng = VulkanSymbioteEngine::create(test::models_dir() / rc->model, c);
    ASSERT_TRUE(eng) << eng.error().to_string();
    if ((*eng)->get_performance_metrics().backend != "vulkan") GTEST_SKIP() << "no Vulkan device: " << (*eng)->describe();
    auto logits = (*eng)->evaluate(rc->prompt_tokens);
    ASSERT_TRUE(logits) << logits.error().to_string();
    for (size_t p = 0; p < rc->prompt_tokens.size(); ++p)
        EXPECT_LT(test::nmse(logits->data() + p * rc->n_vocab, rc->logits_at(p), rc->n_vocab), 1e-6) << "position " << p;
    EXPECT_GT((*eng)->get_performance_metrics().total_gpu_time_ns, 0u);
}

// The [tuning] knobs are options: a malformed value stops the configuration (with the
// source named) before any engine exists, and a well-formed one reaches the engine.
TEST(EngineTuning, MalformedKnobsAreConfigErrors) {
    for (const auto& [name, value] : std::vector<std::pair<const char*, const char*>>{
             {"VK_SYMBIOTE_CPU_HEADS", "abc"}, {"VK_SYMBIOTE_CPU_HEADS", "-2"}, {"VK_SYMBIOTE_MATVEC_LANES", "2000"},
             {"VK_SYMBIOTE_ROWS_HEAD", "gpu"}, {"VK_SYMBIOTE_CPU_PREFETCH", "-64"}, {"VK_SYMBIOTE_IO_THREADS", "0"},
             {"VK_SYMBIOTE_IO_STAGING_MB", "1k"}, {"VK_SYMBIOTE_CPU_BATCH", "maybe"}, {"VK_SYMBIOTE_STREAM_SLOTS", "9"},
             {"VK_SYMBIOTE_CPU_LAYERS", "x"}, {"VK_SYMBIOTE_NO_ZERO_COPY", "2"}}) {
        ConfigManager c;
        auto r = c.load(std::vector<std::string>{}, [&](std::string_view n) {
            return n == name ? std::optional<std::string>(value) : std::nullopt;
        });
        ASSERT_FALSE(r) << name << "=" << value;
        EXPECT_EQ(r.error().code, ErrorCode::Config);
        EXPECT_NE(r.error().message.find(std::string("environment ") + name + ": '" + value + "'"), std::string::npos) << r.error().message;
    }
    ConfigManager ok = cpu_config({"--ctx-size", "64", "--cpu-heads", "20"});  // applies only to a rows split
    EXPECT_TRUE(VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", ok));
}

#ifdef VKS_HAS_VULKAN
// A Vulkan [tuning] knob reaches the backend: --no-zero-copy turns the DMA from the
// provider's memory off (on lavapipe, forced by --device-index, with weights streaming).
TEST(EngineTuning, VulkanKnobReachesTheBackend) {
    const auto model = test::models_dir() / "stories260K.gguf";
    auto zero_copy = [&](std::vector<std::string> extra) -> std::optional<bool> {
        for (double gb = 0.0005; gb < 1; gb *= 1.25) {  // the smallest budget that runs: weights stream
            std::vector<std::string> args = {"--device-index", "0", "--log-level", "ERROR", "--ctx-size", "64", "--vram-gb", std::to_string(gb)};
            args.insert(args.end(), extra.begin(), extra.end());
            ConfigManager c;
            EXPECT_TRUE(c.load(args, [](std::string_view) { return std::optional<std::string>(); }));
            auto s = select_backend(model, c);
            if (!s) continue;  // below the minimum
            auto* vb = dynamic_cast<VulkanBackend*>(s->backend.get());
            if (!vb || vb->streamed_layer_count() == 0) return std::nullopt;
            return vb->zero_copy_streaming();
        }
        return std::nullopt;
    };
    const std::optional<bool> by_default = zero_copy({});
    if (!by_default || !*by_default) GTEST_SKIP() << "no Vulkan device that streams from imported host memory";
    EXPECT_EQ(zero_copy({"--no-zero-copy"}), std::optional<bool>(false));
}
#endif

// Keys this build does not act on are refused by name rather than ignored.
TEST(EngineTuning, InertKeysAreRefused) {
    for (const char* key : {"memory.max_packs_in_memory", "performance.scale_factor"}) {
        ConfigManager c = cpu_config({"--ctx-size", "64"});
        ASSERT_TRUE(c.set(key, "8"));
        auto eng = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", c);
        ASSERT_FALSE(eng) << key;
        EXPECT_EQ(eng.error().code, ErrorCode::InvalidArgument);
        EXPECT_NE(eng.error().message.find(std::string(key).substr(std::string(key).find('.') + 1)), std::string::npos) << eng.error().message;
    }
}

// The CPU path's matvec options: software prefetch and grouped matvecs by default (beside a
// GPU the hybrid CPU part has no prefetch: VulkanOptions, tests/vulkan); the [tuning] knobs
// set them, from the command line or the configuration.
TEST(EngineCpu, MatvecOptionsDefaultsAndKnobs) {
    const auto model = test::models_dir() / "stories260K.gguf";
    auto options = [&](const ConfigManager& c) -> std::pair<uint64, bool> {
        auto s = select_backend(model, c);
        EXPECT_TRUE(s) << s.error().to_string();
        if (!s) return {~uint64(0), false};
        const auto* cpu = dynamic_cast<const CpuBackend*>(s->backend.get());
        EXPECT_NE(cpu, nullptr);
        return cpu ? std::pair{cpu->matvec_prefetch_bytes(), cpu->matvec_batch()} : std::pair{~uint64(0), false};
    };
    EXPECT_EQ(options(cpu_config({"--ctx-size", "64"})), (std::pair<uint64, bool>{cpu::kDefaultMatvecPrefetchBytes, true}));
    EXPECT_EQ(options(cpu_config({"--ctx-size", "64", "--cpu-prefetch-bytes", "512", "--cpu-batch", "false"})), (std::pair<uint64, bool>{512, false}));
    ConfigManager c = cpu_config({"--ctx-size", "64"});
    ASSERT_TRUE(c.set("tuning.cpu_prefetch_bytes", "0"));
    EXPECT_EQ(options(c), (std::pair<uint64, bool>{0, true}));
}
