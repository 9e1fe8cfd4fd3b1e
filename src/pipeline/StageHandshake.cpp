#include "pipeline/StageHandshake.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace vk_symbiote::pipeline {

namespace {

constexpr size_t kNameBytes = 256;

// Rank r > 0 -> rank 0. Plain bytes: every rank runs the same build on the same kind of host.
struct Hello {
    uint64 file_size = 0;
    uint64 header_hash = 0;
    double vram_gb = 0, ram_gb = 0;
    char host[kNameBytes] = {};
    char path[kNameBytes] = {};
};

// Rank 0 -> rank r: an empty `error` means go on with layers [first, end) and these budgets;
// followed by the hosts (size x kNameBytes) and the ranges (size x 2 uint32).
struct Verdict {
    char error[1024] = {};
    uint32 first = 0, end = 0;
    double vram_gb = 0, ram_gb = 0, speed = 1;
};

void copy_name(char (&dst)[kNameBytes], const std::string& s) {
    std::memset(dst, 0, kNameBytes);
    std::memcpy(dst, s.data(), std::min(s.size(), kNameBytes - 1));
}

Expected<Hello> own_hello(PipelineLink& link, const LoadedModel& model, const RankBudget& own) {
    auto header = model.source().header_bytes();
    if (!header) return header.error();
    Hello h;
    h.file_size = model.source().file_size();
    h.header_hash = XXH3_64bits(header->data(), header->size());
    h.vram_gb = own.vram_gb;
    h.ram_gb = own.ram_gb;
    copy_name(h.host, link.host());
    copy_name(h.path, model.path().string());
    return h;
}

std::string describe(const Hello& h) {
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", (unsigned long long)h.header_hash);
    return std::string(h.path) + " (" + std::to_string(h.file_size) + " bytes, header hash " + hash + ")";
}

// Rank 0: the refusal for the first mismatching rank, else "".
std::string compare(const std::vector<Hello>& hellos) {
    for (size_t r = 1; r < hellos.size(); ++r) {
        const Hello& a = hellos[0];
        const Hello& b = hellos[r];
        if (a.file_size != b.file_size || a.header_hash != b.header_hash)
            return "pipeline: rank " + std::to_string(r) + " (host " + b.host + ") has a different model file than rank 0 (host " + a.host + "): " +
                   describe(b) + " vs " + describe(a) + "; every rank needs the same model file (a copy on each host or a shared path)";
    }
    return {};
}

// Rank 0: the budgets of every rank (--budgets, else each one's own) and their ranges.
Expected<std::pair<std::vector<RankBudget>, std::vector<LayerRange>>> plan(const std::vector<Hello>& hellos, const std::string& budgets_text, uint32 n_layer) {
    std::vector<RankBudget> budgets;
    if (budgets_text.empty()) {
        for (const Hello& h : hellos) budgets.push_back({h.vram_gb, h.ram_gb, 1});
    } else {
        auto b = parse_budgets(budgets_text);
        if (!b) return b.error();
        if (b->size() != hellos.size())
            return make_error(ErrorCode::InvalidArgument, "--budgets: " + std::to_string(b->size()) + " entries for " + std::to_string(hellos.size()) + " ranks (one per rank)");
        budgets = *b;
    }
    auto ranges = plan_stages(n_layer, budgets);
    if (!ranges) return ranges.error();
    return std::make_pair(budgets, *ranges);
}

ExpectedVoid send_verdict(PipelineLink& link, uint32 r, const Verdict& v, const std::vector<char>& hosts, const std::vector<uint32>& ranges) {
    VKS_TRY(link.send(r, Tag::Verdict, &v, sizeof v));
    if (v.error[0]) return {};
    VKS_TRY(link.send(r, Tag::Verdict, hosts.data(), hosts.size()));
    return link.send(r, Tag::Verdict, ranges.data(), ranges.size() * sizeof(uint32));
}

Expected<StageAssignment> lead(PipelineLink& link, const LoadedModel& model, const Hello& mine, const std::string& budgets_text) {
    const uint32 n = link.size();
    std::vector<Hello> hellos(n);
    hellos[0] = mine;
    for (uint32 r = 1; r < n; ++r) VKS_TRY(link.recv(r, Tag::Hello, &hellos[r], sizeof(Hello)));
    std::string error = compare(hellos);
    auto planned = error.empty() ? plan(hellos, budgets_text, model.config().n_layer) : make_error(ErrorCode::Corrupt, error);
    if (!planned && error.empty()) error = planned.error().message;
    StageAssignment a;
    std::vector<char> hosts(size_t(n) * kNameBytes);
    std::vector<uint32> ranges;
    for (uint32 r = 0; r < n && planned; ++r) {
        std::memcpy(&hosts[r * kNameBytes], hellos[r].host, kNameBytes);
        a.hosts.emplace_back(hellos[r].host);
        ranges.insert(ranges.end(), {planned->second[r].first, planned->second[r].end});
    }
    for (uint32 r = 1; r < n; ++r) {
        Verdict v;
        std::snprintf(v.error, sizeof v.error, "%s", error.c_str());
        if (planned) {
            v.first = planned->second[r].first, v.end = planned->second[r].end;
            v.vram_gb = planned->first[r].vram_gb, v.ram_gb = planned->first[r].ram_gb, v.speed = planned->first[r].speed;
        }
        VKS_TRY(send_verdict(link, r, v, hosts, ranges));
    }
    if (!planned) return planned.error();
    a.layers = planned->second[0];
    a.budget = planned->first[0];
    a.ranges = planned->second;
    return a;
}

Expected<StageAssignment> follow(PipelineLink& link, const Hello& mine) {
    const uint32 n = link.size();
    VKS_TRY(link.send(0, Tag::Hello, &mine, sizeof mine));
    Verdict v;
    VKS_TRY(link.recv(0, Tag::Verdict, &v, sizeof v));
    v.error[sizeof v.error - 1] = 0;
    if (v.error[0]) return make_error(std::strstr(v.error, "different model") ? ErrorCode::Corrupt : ErrorCode::InvalidArgument, v.error);
    std::vector<char> hosts(size_t(n) * kNameBytes);
    std::vector<uint32> ranges(size_t(n) * 2);
    VKS_TRY(link.recv(0, Tag::Verdict, hosts.data(), hosts.size()));
    VKS_TRY(link.recv(0, Tag::Verdict, ranges.data(), ranges.size() * sizeof(uint32)));
    StageAssignment a;
    for (uint32 r = 0; r < n; ++r) {
        hosts[r * kNameBytes + kNameBytes - 1] = 0;
        a.hosts.emplace_back(&hosts[r * kNameBytes]);
        a.ranges.push_back({ranges[2 * r], ranges[2 * r + 1]});
    }
    a.layers = {v.first, v.end};
    a.budget = {v.vram_gb, v.ram_gb, v.speed};
    return a;
}

}  // namespace

Expected<StageAssignment> handshake(PipelineLink& link, const LoadedModel& model, const RankBudget& own, const std::string& budgets_text) {
    auto mine = own_hello(link, model, own);
    if (!mine) return mine.error();
    auto a = link.rank() == 0 ? lead(link, model, *mine, budgets_text) : follow(link, *mine);
    if (a) link.set_hosts(a->hosts);
    return a;
}

}  // namespace vk_symbiote::pipeline
