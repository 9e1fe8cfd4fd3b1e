// The speculative-sampling rule leaves the output distribution unchanged: Sampler::verify's
// token is distributed as Sampler::sample's for a fixed row (goodness of fit), and on
// stories260K the tokens at fixed generated positions over many seeded runs with n-gram drafts
// agree with plain sampling (chi-square test of homogeneity, alpha = 0.001; the seeds are
// fixed, so the outcome is deterministic). A shifted distribution is rejected by the same test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "runtime/Scheduler.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// Upper 0.001 quantile of chi-square with df degrees of freedom (Wilson-Hilferty).
double chi2_critical(uint32 df) {
    const double z = 3.090, d = double(df);
    return d * std::pow(1.0 - 2.0 / (9.0 * d) + z * std::sqrt(2.0 / (9.0 * d)), 3.0);
}

// Chi-square statistic and degrees of freedom of a 2 x B table of counts (bins whose pooled
// count is under 10 merged into one).
std::pair<double, uint32> homogeneity(const std::map<uint32, double>& a, const std::map<uint32, double>& b) {
    std::map<uint32, std::pair<double, double>> bins;
    for (const auto& [t, c] : a) bins[t].first += c;
    for (const auto& [t, c] : b) bins[t].second += c;
    std::vector<std::pair<double, double>> table;
    std::pair<double, double> rare{0, 0};
    for (const auto& [t, c] : bins) {
        if (c.first + c.second < 10) {
            rare.first += c.first;
            rare.second += c.second;
        } else {
            table.push_back(c);
        }
    }
    if (rare.first + rare.second > 0) table.push_back(rare);
    double na = 0, nb = 0;
    for (const auto& c : table) na += c.first, nb += c.second;
    double x2 = 0;
    for (const auto& c : table) {
        const double pooled = (c.first + c.second) / (na + nb);
        x2 += std::pow(c.first - pooled * na, 2) / (pooled * na) + std::pow(c.second - pooled * nb, 2) / (pooled * nb);
    }
    return {x2, uint32(table.size() > 1 ? table.size() - 1 : 1)};
}

SamplerParams sampling(uint64 seed) {
    SamplerParams p;  // the default chain: top-k 40, top-p 0.95, min-p 0.05, temperature 0.7
    p.temperature = 0.9f;
    p.seed = seed;
    return p;
}

}  // namespace

TEST(SpeculativeSampling, VerifyDrawsAsSampleDoesForOneRow) {
    const std::vector<float> row{2.0f, 1.5f, 1.2f, 0.3f, -1.0f, 0.9f, -3.0f, 1.1f};
    const uint32 n = uint32(row.size());
    std::map<uint32, double> plain, verified, shifted;
    Sampler a(sampling(1)), b(sampling(2));
    const uint32 draws = 20000;
    for (uint32 i = 0; i < draws; ++i) {
        std::vector<float> r1 = row, r2 = row;
        plain[a.sample(r1.data(), n, {})] += 1;
        verified[b.verify(r2.data(), n, {}, i % 3 == 0 ? 2 : (i % 3 == 1 ? 6 : 0))] += 1;  // a likely, an excluded, the top draft
    }
    const auto [x2, df] = homogeneity(plain, verified);
    std::printf("one row: chi-square %.2f, df %u, critical %.2f\n", x2, df, chi2_critical(df));
    EXPECT_LT(x2, chi2_critical(df));
    EXPECT_EQ(verified.count(6), 0u) << "a token top-k / min-p removed is never returned";
    // The same test rejects a distribution 2% off on one token.
    shifted = plain;
    shifted[0] += 0.02 * draws;
    shifted[1] -= 0.02 * draws;
    EXPECT_GT(homogeneity(plain, shifted).first, chi2_critical(homogeneity(plain, shifted).second));
}

TEST(SpeculativeSampling, TokenFrequenciesOnStories260KAgreeWithPlainSampling) {
    auto m = LoadedModel::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(m) << m.error().to_string();
    auto weights = FileWeightProvider::open(*m);
    CpuBackend be(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    const uint32 runs = 400, n_gen = 12;
    be.set_kv_pool_tokens(uint64(64) * 64);
    ASSERT_TRUE(be.prepare(*weights, 64, 64));
    const Tokenizer& tok = (*m)->tokenizer();
    const std::vector<uint32> prompt = tok.encode("Once upon a time, there was a little girl. She liked to play. Once upon a time, there was a", true, true);
    const std::vector<uint32> positions{2, 6, 11};
    std::map<uint32, std::map<uint32, double>> freq[2];  // [speculative][position][token]
    uint64 drafted = 0, accepted = 0;
    for (int spec = 0; spec < 2; ++spec) {
        Scheduler s(be, tok, (*m)->config().n_vocab, 64);
        for (uint32 r = 0; r < runs; ++r) {
            SequenceRequest q;
            q.prompt = prompt;
            q.sampling = sampling(1000003ull * r + uint64(spec));
            q.max_tokens = n_gen;
            q.ignore_eos = true;
            q.draft.ngram = spec == 1;
            q.draft.draft_max = 6;
            q.draft.adaptive = false;  // drafts every step: the counts below do not depend on timing
            auto id = s.submit(q);
            ASSERT_TRUE(id) << id.error().to_string();
            while (s.has_work()) ASSERT_TRUE(s.step());
            const std::vector<uint32> t = s.status(*id).tokens;
            ASSERT_EQ(t.size(), n_gen);
            for (uint32 p : positions) freq[spec][p][t[p]] += 1;
            drafted += s.find(*id)->drafted_tokens();
            accepted += s.find(*id)->accepted_tokens();
            s.release(*id);
        }
    }
    std::printf("speculative runs: %llu drafted, %llu accepted\n", (unsigned long long)drafted, (unsigned long long)accepted);
    EXPECT_GT(accepted, uint64(runs));
    EXPECT_LT(accepted, drafted) << "some drafts rejected: the rejection branch ran";
    for (uint32 p : positions) {
        const auto [x2, df] = homogeneity(freq[0][p], freq[1][p]);
        std::printf("generated position %u: chi-square %.2f, df %u, critical %.2f\n", p, x2, df, chi2_critical(df));
        EXPECT_LT(x2, chi2_critical(df)) << "position " << p;
    }
}
