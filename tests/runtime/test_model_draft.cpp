// ModelDraft: greedy drafts from a model's own KV cache, rolled back to the context it is
// asked about. stories260K drafting for a context: the drafted tokens are the greedy
// continuation (the argmax of a plain evaluation, one token at a time); after a verification
// that kept only part of a draft, the next proposal reuses the cached prefix and computes only
// the new positions.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/BackendSelector.h"
#include "runtime/ModelDraft.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"

using namespace vk_symbiote;

namespace {

SelectedBackend cpu_backend() {
    ConfigManager c;
    auto r = c.load(std::vector<std::string>{"--disable-gpu", "--log-level", "ERROR", "--ctx-size", "64"},
                    [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    auto s = select_backend(test::models_dir() / "stories260K.gguf", c);
    EXPECT_TRUE(s) << s.error().to_string();
    return std::move(*s);
}

// Greedy continuation of `context` by n tokens, evaluating everything from position 0.
std::vector<uint32> greedy(Backend& b, uint32 n_vocab, std::vector<uint32> context, uint32 n) {
    Session s(b, n_vocab, 16);
    s.reset();
    std::vector<uint32> out;
    std::vector<uint32> feed = context;
    for (uint32 i = 0; i < n; ++i) {
        auto l = s.eval(feed, false);
        EXPECT_TRUE(l) << l.error().to_string();
        out.push_back(uint32(std::max_element(l->begin(), l->end()) - l->begin()));
        feed.assign(1, out.back());
    }
    return out;
}

}  // namespace

TEST(ModelDraft, ProposesTheGreedyContinuationAndRollsBack) {
    SelectedBackend sel = cpu_backend();
    const uint32 n_vocab = sel.provider->config().n_vocab;
    const std::vector<uint32> context = {1, 403, 407, 261, 378, 293};  // BOS and five story tokens
    const std::vector<uint32> want = greedy(*sel.backend, n_vocab, context, 5);

    ModelDraft d(*sel.backend, n_vocab, 16);
    auto first = d.propose(context, 4);
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(*first, std::vector<uint32>(want.begin(), want.begin() + 4));
    EXPECT_EQ(d.cached_positions(), context.size() + 3) << "the context and three drafted tokens fed back";
    EXPECT_EQ(d.evaluated_positions(), context.size() + 3);

    // The target kept two drafted tokens and chose another third one (not the draft's).
    std::vector<uint32> next = context;
    next.insert(next.end(), want.begin(), want.begin() + 2);
    next.push_back(want[2] == 5 ? 6 : 5);
    auto second = d.propose(next, 2);
    ASSERT_TRUE(second) << second.error().to_string();
    EXPECT_EQ(second->size(), 2u);
    EXPECT_EQ(d.evaluated_positions(), context.size() + 3 + 1 + 1) << "only the new token, then one drafted token fed back";
    EXPECT_EQ(d.cached_positions(), next.size() + 1);
    const std::vector<uint32> again = greedy(*sel.backend, n_vocab, next, 2);
    EXPECT_EQ(*second, again) << "the rolled-back cache drafts what a fresh evaluation would";
}

TEST(ModelDraft, StopsAtTheEndOfItsContext) {
    SelectedBackend sel = cpu_backend();
    const uint32 n_vocab = sel.provider->config().n_vocab;
    ModelDraft d(*sel.backend, n_vocab, 16);
    std::vector<uint32> context(62, 300);
    context[0] = 1;
    auto p = d.propose(context, 8);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(p->size(), 3u) << "62 positions and 2 drafted tokens fed back fill a context of 64";
}
