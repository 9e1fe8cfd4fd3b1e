#include "pipeline/PipelineReport.h"

#include <cstdio>
#include <cstring>

namespace vk_symbiote::pipeline {

namespace {

// The wire form of a report (same build on every rank: plain bytes).
struct WireReport {
    StageStats stats;
    uint64 span_ns = 0;
    char describe[1024] = {};
};

RankReport own_report(PipelineStage& stage) {
    RankReport r;
    r.rank = stage.link().rank();
    r.describe = stage.describe();
    r.stats = stage.stats();
    r.span_ns = stage.span_ns();
    return r;
}

double mib(uint64 bytes) { return double(bytes) / 1048576.0; }

}  // namespace

ExpectedVoid send_report(PipelineStage& stage) {
    const RankReport mine = own_report(stage);
    WireReport w;
    w.stats = mine.stats;
    w.span_ns = mine.span_ns;
    std::snprintf(w.describe, sizeof w.describe, "%s", mine.describe.c_str());
    return stage.link().send(0, Tag::Report, &w, sizeof w);
}

Expected<std::vector<RankReport>> gather_reports(PipelineStage& stage) {
    std::vector<RankReport> out{own_report(stage)};
    for (uint32 r = 1; r < stage.link().size(); ++r) {
        WireReport w;
        VKS_TRY(stage.link().recv(r, Tag::Report, &w, sizeof w));
        w.describe[sizeof w.describe - 1] = 0;
        out.push_back({r, w.describe, w.stats, w.span_ns});
    }
    return out;
}

nlohmann::json reports_json(const std::vector<RankReport>& reports) {
    nlohmann::json a = nlohmann::json::array();
    for (const RankReport& r : reports) {
        const StageStats& s = r.stats;
        a.push_back({{"rank", r.rank},
                     {"placement", r.describe},
                     {"steps", s.steps},
                     {"tokens", s.tokens},
                     {"compute_s", double(s.compute_ns) * 1e-9},
                     {"communication_s", double(s.link.comm_ns) * 1e-9},
                     {"span_s", double(r.span_ns) * 1e-9},
                     {"bubble", r.bubble()},
                     {"bytes_sent", s.link.bytes_sent},
                     {"bytes_received", s.link.bytes_received},
                     {"ram_weight_bytes_per_token", s.weight_bytes},
                     {"disk_bytes_read", s.weights.bytes_read},
                     {"uploaded_bytes", s.uploaded_bytes},
                     {"disk_bytes_per_step", s.steps ? double(s.weights.bytes_read) / double(s.steps) : 0.0},
                     {"pack_hits", s.weights.pack_hits},
                     {"pack_misses", s.weights.pack_misses}});
    }
    return a;
}

std::string reports_text(const std::vector<RankReport>& reports) {
    std::string out;
    for (const RankReport& r : reports) {
        const StageStats& s = r.stats;
        char line[512];
        std::snprintf(line, sizeof line,
                      "  %llu steps, compute %.1f ms, communication %.1f ms, bubble %.0f%%, weights from RAM %.3f MiB per token, from disk %.3f MiB "
                      "(%.3f MiB per step), to the device %.3f MiB, sent %.3f MiB\n",
                      (unsigned long long)s.steps, double(s.compute_ns) * 1e-6, double(s.link.comm_ns) * 1e-6, 100.0 * r.bubble(), mib(s.weight_bytes),
                      mib(s.weights.bytes_read), s.steps ? mib(s.weights.bytes_read) / double(s.steps) : 0.0, mib(s.uploaded_bytes), mib(s.link.bytes_sent));
        out += "pipeline: " + r.describe + "\n" + line;
    }
    return out;
}

}  // namespace vk_symbiote::pipeline
