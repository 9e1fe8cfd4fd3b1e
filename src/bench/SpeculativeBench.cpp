#include "bench/SpeculativeBench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "model/ModelConfig.h"
#include "model/Tokenizer.h"
#include "runtime/NgramDraft.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::bench {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

void say(const WorkloadOptions& opts, const std::string& line) {
    if (opts.log) opts.log(line);
}

// The median pass of 1 + k rows, in ms.
Expected<VerifyPassFigure> time_pass(VulkanSymbioteEngine& engine, const std::vector<uint32>& tokens, uint32 k, const WorkloadOptions& opts) {
    const std::vector<uint32> rows(tokens.begin(), tokens.begin() + k + 1);
    if (opts.warmup) VKS_TRY(engine.evaluate(rows, true));
    std::vector<double> ms;
    for (uint32 rep = 0; rep < std::max(1u, opts.repetitions); ++rep) {
        const Clock::time_point t0 = Clock::now();
        auto r = engine.evaluate(rows, true);
        if (!r) return r.error();
        ms.push_back(secs(Clock::now() - t0) * 1e3);
    }
    VerifyPassFigure f;
    f.k = k;
    f.ms = summarize(ms);
    say(opts, "verify k=" + std::to_string(k) + ": " + fmt("%.2f ms", f.ms.median) + " per pass of " + std::to_string(k + 1) + " rows");
    return f;
}

// Generated tokens after the first whose n-gram lookup over the context before them (the
// prompt, then the generated tokens) drafts them as its first token.
uint32 lookup_hits(const std::vector<uint32>& prompt, const std::vector<uint32>& generated, uint32 ngram_size) {
    std::vector<uint32> ctx = prompt;
    uint32 hits = 0;
    for (size_t i = 0; i < generated.size(); ++i) {
        if (i > 0) {
            const std::vector<uint32> d = ngram_draft(ctx, ngram_size, 1);
            hits += !d.empty() && d[0] == generated[i] ? 1 : 0;
        }
        ctx.push_back(generated[i]);
    }
    return hits;
}

// One greedy generation of the workload: tokens/s over the decode span and the metrics' delta;
// `tokens` receives the generated tokens.
Expected<NgramRunFigure> timed_run(VulkanSymbioteEngine& engine, const std::vector<uint32>& prompt, const GenerationOptions& g, std::vector<uint32>& tokens) {
    const PerformanceMetrics before = engine.get_performance_metrics();
    std::vector<Clock::time_point> stamps;
    tokens.clear();
    auto r = engine.generate_tokens(prompt, g, [&](const std::string&, uint32 tok) {
        if (tok != UINT32_MAX) stamps.push_back(Clock::now());
        return true;
    }, &tokens);
    if (!r) return r.error();
    const PerformanceMetrics& m = engine.get_performance_metrics();
    NgramRunFigure f;
    f.name = !g.draft_ngram ? "plain" : engine.has_draft_model() ? "model" : "ngram";
    const double span = stamps.size() >= 2 ? secs(stamps.back() - stamps.front()) : 0;
    f.tokens_per_second.median = span > 0 ? double(stamps.size() - 1) / span : 0;
    const uint64 passes = m.decode_passes - before.decode_passes;
    f.tokens_per_pass = passes ? double(m.decode_tokens - before.decode_tokens) / double(passes) : 0;
    f.drafted = m.draft_tokens - before.draft_tokens;
    f.accepted = m.draft_accepted_tokens - before.draft_accepted_tokens;
    f.draft_ms = double(m.draft_time_ns - before.draft_time_ns) * 1e-6;
    f.verify_ms = double(m.verify_time_ns - before.verify_time_ns) * 1e-6;
    f.lookup_hits = lookup_hits(prompt, tokens, std::max(1u, g.draft_ngram_size));
    f.generated = uint32(tokens.size());
    return f;
}

}  // namespace

Expected<std::vector<VerifyPassFigure>> run_verify_sweep(VulkanSymbioteEngine& engine, const std::vector<uint32>& ks, const WorkloadOptions& opts) {
    std::vector<uint32> all{0};
    for (uint32 k : ks)
        if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
    const uint32 most = *std::max_element(all.begin(), all.end());
    if (most + 1 > engine.context_size())
        return make_error(ErrorCode::InvalidArgument, "--verify-k: a pass of " + std::to_string(most + 1) + " rows exceeds the context of " +
                                                          std::to_string(engine.context_size()));
    const std::vector<uint32> tokens = benchmark_tokens(engine.model_config().n_vocab, most + 1, opts.seed);
    std::vector<VerifyPassFigure> out;
    for (uint32 k : all) {
        auto f = time_pass(engine, tokens, k, opts);
        if (!f) return f.error();
        out.push_back(*f);
    }
    return out;
}

uint32 repetitive_prompt_copies(size_t n) { return n == 0 ? 4 : uint32(std::max<size_t>(2, (128 + n - 1) / n)); }

uint32 repetitive_prompt_tokens(size_t cycle_size) { return 1 + repetitive_prompt_copies(cycle_size) * uint32(cycle_size ? cycle_size : 32); }

std::string repetitive_prompt_description(const std::string& prompt_text, size_t cycle_size) {
    if (!prompt_text.empty()) return "--prompt";
    const std::string copies = " x " + std::to_string(repetitive_prompt_copies(cycle_size));
    return cycle_size ? "the model's copy cycle (" + std::to_string(cycle_size) + " tokens)" + copies : "32 random tokens" + copies;
}

std::vector<uint32> repetitive_prompt(const VulkanSymbioteEngine& engine, uint64 seed, const std::vector<uint32>& cycle) {
    const uint32 n_vocab = engine.model_config().n_vocab, bos = engine.tokenizer().bos_id();
    const std::vector<uint32> phrase = cycle.empty() ? benchmark_tokens(n_vocab, 32, seed) : cycle;
    std::vector<uint32> p;
    if (bos < n_vocab) p.push_back(bos);
    for (uint32 i = 0; i < repetitive_prompt_copies(cycle.size()); ++i) p.insert(p.end(), phrase.begin(), phrase.end());
    return p;
}

Expected<std::vector<NgramRunFigure>> run_ngram_workload(VulkanSymbioteEngine& engine, uint32 n_tokens, const std::string& prompt_text,
                                                         const std::vector<uint32>& cycle, const WorkloadOptions& opts, uint32& prompt_tokens) {
    if (n_tokens < 2) return make_error(ErrorCode::InvalidArgument, "--ngram: at least 2 tokens");
    const std::vector<uint32> prompt = prompt_text.empty() ? repetitive_prompt(engine, opts.seed, cycle) : engine.encode(prompt_text);
    prompt_tokens = uint32(prompt.size());
    GenerationOptions g = engine.default_generation_options();
    g.max_tokens = n_tokens;
    g.temperature = 0;
    g.ignore_eos = true;
    std::vector<NgramRunFigure> out;
    std::vector<uint32> plain_tokens, tokens;
    for (bool draft : {false, true}) {
        g.draft_ngram = draft;
        g.draft_model = draft;  // the plain run drafts from neither source
        if (opts.warmup) VKS_TRY(timed_run(engine, prompt, g, tokens));
        std::vector<NgramRunFigure> reps;
        for (uint32 rep = 0; rep < std::max(1u, opts.repetitions); ++rep) {
            auto f = timed_run(engine, prompt, g, tokens);
            if (!f) return f.error();
            if (!draft && rep == 0) plain_tokens = tokens;
            f->same_as_plain = tokens == plain_tokens;
            reps.push_back(*f);
            say(opts, "ngram " + f->name + ": " + fmt("%.2f tokens/s", f->tokens_per_second.median) + ", " + fmt("%.2f tokens per pass", f->tokens_per_pass));
        }
        std::vector<double> tps;
        for (const NgramRunFigure& f : reps) tps.push_back(f.tokens_per_second.median);
        std::sort(reps.begin(), reps.end(), [](const auto& a, const auto& b) { return a.tokens_per_second.median < b.tokens_per_second.median; });
        NgramRunFigure f = reps[reps.size() / 2];
        f.tokens_per_second = summarize(tps);
        for (const NgramRunFigure& r : reps) f.same_as_plain = f.same_as_plain && r.same_as_plain;
        out.push_back(f);
    }
    if (out[0].lookup_hits == 0)
        say(opts, "ngram: the plain continuation repeats nothing of its context (0 of " + std::to_string(out[0].generated) +
                      " tokens an n-gram lookup would draft): nothing to accept (a random-weight model does not copy its prompt; "
                      "vk_symbiote_genmodel --copy-cycle N writes one whose text repeats)");
    return out;
}

nlohmann::json to_json(const SpeculativeFigures& f) {
    nlohmann::json verify = nlohmann::json::array(), ngram = nlohmann::json::array();
    for (const VerifyPassFigure& v : f.verify) verify.push_back({{"k", v.k}, {"rows", v.k + 1}, {"ms", {{"median", v.ms.median}, {"min", v.ms.min}, {"max", v.ms.max}}}});
    for (const NgramRunFigure& n : f.ngram)
        ngram.push_back({{"name", n.name},
                         {"tokens_per_second", {{"median", n.tokens_per_second.median}, {"min", n.tokens_per_second.min}, {"max", n.tokens_per_second.max}}},
                         {"tokens_per_pass", n.tokens_per_pass},
                         {"drafted", n.drafted},
                         {"accepted", n.accepted},
                         {"draft_ms", n.draft_ms},
                         {"lookup_hits", n.lookup_hits},
                         {"generated", n.generated},
                         {"same_as_plain", n.same_as_plain},
                         {"verify_ms", n.verify_ms}});
    return {{"verify_passes", verify}, {"ngram_prompt_tokens", f.ngram_prompt_tokens}, {"ngram_prompt", f.ngram_prompt}, {"ngram", ngram}};
}

std::string speculative_tables(const SpeculativeFigures& f) {
    std::string out;
    if (!f.verify.empty()) {
        std::vector<std::vector<std::string>> rows = {{"verify pass", "rows", "ms (median)", "min", "max", "t/s a=0.5 (computed)", "a=0.7 (computed)", "a=0.9 (computed)"}};
        for (const VerifyPassFigure& v : f.verify) {
            std::vector<std::string> r{"k=" + std::to_string(v.k), std::to_string(v.k + 1), fmt("%.2f", v.ms.median), fmt("%.2f", v.ms.min), fmt("%.2f", v.ms.max)};
            for (double a : {0.5, 0.7, 0.9}) {
                const double tokens = v.k == 0 ? 1.0 : (1.0 - std::pow(a, double(v.k) + 1)) / (1.0 - a);
                r.push_back(v.ms.median > 0 ? fmt("%.2f", tokens * 1e3 / v.ms.median) : "?");
            }
            rows.push_back(r);
        }
        out += render(rows) + "\n";
    }
    if (!f.ngram.empty()) {
        std::vector<std::vector<std::string>> rows = {
            {"n-gram workload", "tokens/s (measured)", "tokens/pass", "drafted", "accepted", "draft ms", "verify ms", "lookup hits", "tokens as plain"}};
        for (const NgramRunFigure& n : f.ngram)
            rows.push_back({n.name + " (prompt " + std::to_string(f.ngram_prompt_tokens) + ")", fmt("%.2f", n.tokens_per_second.median), fmt("%.2f", n.tokens_per_pass),
                            std::to_string(n.drafted), std::to_string(n.accepted), fmt("%.1f", n.draft_ms), fmt("%.1f", n.verify_ms),
                            std::to_string(n.lookup_hits) + " of " + std::to_string(n.generated > 0 ? n.generated - 1 : 0), n.same_as_plain ? "same" : "DIFFERENT"});
        if (f.ngram.size() == 2 && f.ngram[0].tokens_per_second.median > 0)
            rows.push_back({"speed-up", fmt("%.2fx", f.ngram[1].tokens_per_second.median / f.ngram[0].tokens_per_second.median), "", "", "", "", "", "", ""});
        if (!f.ngram_prompt.empty()) out += "n-gram prompt: " + f.ngram_prompt + "\n";
        out += render(rows) + "\n";
    }
    return out;
}

}  // namespace vk_symbiote::bench
