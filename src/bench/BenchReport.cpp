#include "bench/BenchReport.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>

#include "bench/SpeculativeBench.h"
#include "engine/CliSupport.h"
#include "model/TensorRegistry.h"

namespace vk_symbiote::bench {

Stats summarize(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.median = (n % 2) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

uint64 weight_bytes_touched(const TensorRegistry& reg, uint64 passes, uint64 tokens, uint64 routed_expert_bytes) {
    const TensorDesc* embd = reg.find({TensorRole::TokenEmbd, -1});
    uint64 per_pass = 0;
    for (const TensorDesc& d : reg.tensors()) {
        if (d.id.role == TensorRole::TokenEmbd) continue;  // rows per token, below
        if (tensor_role_is_expert(d.id.role)) continue;    // the chosen ones: routed_expert_bytes
        // A tied output reads the whole embedding matrix as the lm head every pass.
        per_pass += d.byte_size;
    }
    uint64 embd_rows = embd ? tokens * embd->row_bytes() : 0;
    return passes * per_pass + embd_rows + routed_expert_bytes;
}

TierBytes split_tiers(const PassTraffic& t) {
    TierBytes b;
    if (t.tokens == 0) return b;
    double n = double(t.tokens);
    uint64 touched = t.weight_bytes_touched;
    if (t.gpu_compute) {
        // Uploads beyond what the passes touch (prefetch that was never used) still crossed
        // the bus; they are counted there and nothing is left for VRAM.
        uint64 cpu = std::min(t.cpu_compute_bytes, touched);
        uint64 on_device = touched - cpu;
        uint64 up = t.uploaded_bytes;
        b.bus = double(up) / n;
        b.vram = double(on_device - std::min(up, on_device)) / n;
        b.ram = double(cpu) / n;
    } else {
        b.ram = double(touched) / n;
        b.bus = double(t.uploaded_bytes) / n;  // 0 on a pure CPU run
    }
    b.disk = double(t.disk_bytes) / n;
    return b;
}

namespace {

TierFigure tier_figure(double bytes_per_token, double tps, const Bandwidth& ceiling) {
    TierFigure f;
    f.bytes_per_token = bytes_per_token;
    f.achieved_gbps = bytes_per_token * tps / 1e9;
    f.ceiling_gbps = ceiling.measured ? ceiling.gbps : 0;
    if (bytes_per_token > 0 && f.ceiling_gbps > 0) f.max_tokens_per_second = f.ceiling_gbps * 1e9 / bytes_per_token;
    return f;
}

NonResidentBound non_resident_bound(const TierBytes& b, double tps, const ProbeResults& p) {
    NonResidentBound n;
    n.bytes_per_token = b.bus + b.ram;
    if (n.bytes_per_token <= 0) return n;
    const bool need_bus = b.bus > 0, need_ram = b.ram > 0;
    if ((need_bus && !p.host_to_device.measured) || (need_ram && !p.host_memory.measured)) return n;  // unknown
    n.ceiling_gbps = (need_bus ? p.host_to_device.gbps : 0) + (need_ram ? p.host_memory.gbps : 0);
    n.ceiling = need_bus && need_ram ? "host_to_device+host_memory" : need_bus ? "host_to_device" : "host_memory";
    n.bound_tokens_per_second = n.ceiling_gbps * 1e9 / n.bytes_per_token;
    n.fraction_of_bound = tps / n.bound_tokens_per_second;
    return n;
}

}  // namespace

Accounting compute_accounting(const PassTraffic& traffic, double tps, const ProbeResults& p) {
    TierBytes b = split_tiers(traffic);
    Accounting a;
    a.non_resident = non_resident_bound(b, tps, p);
    a.vram = tier_figure(b.vram, tps, p.device_memory);
    a.bus = tier_figure(b.bus, tps, p.host_to_device);
    a.ram = tier_figure(b.ram, tps, p.host_memory);
    a.disk = tier_figure(b.disk, tps, p.disk_read);
    a.weight_bytes_per_token = b.total_compute();
    if (traffic.forward_passes > 0) a.weight_bytes_per_pass = a.weight_bytes_per_token * double(traffic.tokens) / double(traffic.forward_passes);

    // Slowest tier = the largest lower bound on time per token.
    double worst_time = 0;
    bool unknown = false;
    const std::pair<const char*, const TierFigure*> tiers[] = {
        {"vram", &a.vram}, {"bus", &a.bus}, {"ram", &a.ram}, {"disk", &a.disk}};
    for (auto& [name, f] : tiers) {
        if (f->bytes_per_token <= 0) continue;
        if (f->max_tokens_per_second <= 0) {
            unknown = true;
            continue;
        }
        double t = 1.0 / f->max_tokens_per_second;
        if (t > worst_time) {
            worst_time = t;
            a.bound_tier = name;
        }
    }
    if (unknown || worst_time <= 0) {
        a.bound_tier.clear();
        return a;
    }
    a.bound_tokens_per_second = 1.0 / worst_time;
    a.fraction_of_bound = tps / a.bound_tokens_per_second;
    return a;
}

PackCacheFigures pack_cache_figures(const std::vector<RunSample>& samples) {
    PackCacheFigures f;
    for (const RunSample& s : samples) {
        f.ram_hits += s.ram_pack_hits;
        f.ram_misses += s.ram_pack_misses;
        f.vram_hits += s.vram_pack_hits;
        f.vram_misses += s.vram_pack_misses;
        f.expert_hits += s.expert_hits;
        f.expert_misses += s.expert_misses;
        f.expert_vram_hits += s.expert_vram_hits;
        f.expert_vram_misses += s.expert_vram_misses;
    }
    auto rate = [](uint64 h, uint64 m) { return h + m ? double(h) / double(h + m) : 0.0; };
    f.ram_hit_rate = rate(f.ram_hits, f.ram_misses);
    f.vram_hit_rate = rate(f.vram_hits, f.vram_misses);
    f.expert_hit_rate = rate(f.expert_hits, f.expert_misses);
    f.expert_vram_hit_rate = rate(f.expert_vram_hits, f.expert_vram_misses);
    return f;
}

std::vector<KernelFigure> kernel_figures(const std::vector<KernelTime>& before, const std::vector<KernelTime>& after, uint64 tokens,
                                         uint64 gpu_time_ns) {
    std::vector<KernelFigure> out;
    for (const KernelTime& a : after) {
        KernelFigure f;
        f.name = a.name;
        f.dispatches = a.dispatches;
        f.total_ns = a.total_ns;
        for (const KernelTime& b : before)
            if (b.name == a.name) {
                f.dispatches -= std::min(f.dispatches, b.dispatches);
                f.total_ns -= std::min(f.total_ns, b.total_ns);
            }
        if (f.dispatches == 0) continue;
        f.ns_per_token = tokens ? double(f.total_ns) / double(tokens) : 0;
        f.fraction_of_gpu_time = gpu_time_ns ? double(f.total_ns) / double(gpu_time_ns) : 0;
        out.push_back(std::move(f));
    }
    std::stable_sort(out.begin(), out.end(), [](const KernelFigure& x, const KernelFigure& y) { return x.total_ns > y.total_ns; });
    return out;
}

// ---- JSON -------------------------------------------------------------------------

namespace {

nlohmann::json to_json(const Stats& s) { return {{"median", s.median}, {"min", s.min}, {"max", s.max}}; }

nlohmann::json to_json(const TierFigure& f) {
    return {{"bytes_per_token", f.bytes_per_token},
            {"achieved_gbps", f.achieved_gbps},
            {"ceiling_gbps", f.ceiling_gbps},
            {"max_tokens_per_second", f.max_tokens_per_second}};
}

nlohmann::json to_json(const Accounting& a) {
    return {{"tiers", {{"vram", to_json(a.vram)}, {"bus", to_json(a.bus)}, {"ram", to_json(a.ram)}, {"disk", to_json(a.disk)}}},
            {"weight_bytes_per_token", a.weight_bytes_per_token},
            {"weight_bytes_per_pass", a.weight_bytes_per_pass},
            {"bound_tokens_per_second", a.bound_tokens_per_second},
            {"bound_tier", a.bound_tier},
            {"fraction_of_bound", a.fraction_of_bound},
            {"non_resident",
             {{"bytes_per_token", a.non_resident.bytes_per_token},
              {"ceiling_gbps", a.non_resident.ceiling_gbps},
              {"ceiling", a.non_resident.ceiling},
              {"bound_tokens_per_second", a.non_resident.bound_tokens_per_second},
              {"fraction_of_bound", a.non_resident.fraction_of_bound}}}};
}

nlohmann::json to_json(const RunSample& s) {
    nlohmann::json j = {{"tokens", s.tokens},
                        {"seconds", s.seconds},
                        {"tokens_per_second", s.tokens_per_second},
                        {"ttft_ms", s.ttft_ms},
                        {"per_sequence_tokens_per_second", s.per_sequence_tokens_per_second},
                        {"forward_passes", s.forward_passes},
                        {"disk_bytes", s.disk_bytes},
                        {"uploaded_bytes", s.uploaded_bytes},
                        {"peak_vram_bytes", s.peak_vram_bytes},
                        {"peak_rss_bytes", s.peak_rss_bytes},
                        {"ram_pack_hits", s.ram_pack_hits},
                        {"ram_pack_misses", s.ram_pack_misses},
                        {"vram_pack_hits", s.vram_pack_hits},
                        {"vram_pack_misses", s.vram_pack_misses},
                        {"expert_hits", s.expert_hits},
                        {"expert_misses", s.expert_misses},
                        {"expert_vram_hits", s.expert_vram_hits},
                        {"expert_vram_misses", s.expert_vram_misses},
                        {"gpu_time_ns", s.gpu_time_ns}};
    j.update(tool::pack_reads_json(s));
    return j;
}

nlohmann::json to_json(const WorkloadResult& w) {
    nlohmann::json samples = nlohmann::json::array();
    for (auto& s : w.samples) samples.push_back(to_json(s));
    nlohmann::json kernels = nlohmann::json::array();
    for (auto& k : w.kernels)
        kernels.push_back({{"name", k.name},
                           {"dispatches", k.dispatches},
                           {"total_ns", k.total_ns},
                           {"ns_per_token", k.ns_per_token},
                           {"fraction_of_gpu_time", k.fraction_of_gpu_time}});
    const PackCacheFigures& pc = w.pack_cache;
    return {{"name", w.name},
            {"kind", w.kind},
            {"n_tokens", w.n_tokens},
            {"parallel", w.parallel},
            {"scheduling", w.scheduling},
            {"per_sequence_tokens_per_second", to_json(w.per_sequence_tokens_per_second)},
            {"repetitions", w.samples.size()},
            {"tokens_per_second", to_json(w.tokens_per_second)},
            {"ttft_ms", to_json(w.ttft_ms)},
            {"accounting", to_json(w.accounting)},
            {"pack_cache",
             {{"ram_hits", pc.ram_hits},
              {"ram_misses", pc.ram_misses},
              {"ram_hit_rate", pc.ram_hit_rate},
              {"vram_hits", pc.vram_hits},
              {"vram_misses", pc.vram_misses},
              {"vram_hit_rate", pc.vram_hit_rate},
              {"expert_hits", pc.expert_hits},
              {"expert_misses", pc.expert_misses},
              {"expert_hit_rate", pc.expert_hit_rate},
              {"expert_vram_hits", pc.expert_vram_hits},
              {"expert_vram_misses", pc.expert_vram_misses},
              {"expert_vram_hit_rate", pc.expert_vram_hit_rate}}},
            {"gpu_time_ns", w.gpu_time_ns},
            {"kernels", kernels},
            {"stream_timeline",
             {{"span_ns", w.stream_span_ns}, {"upload_busy_ns", w.stream_upload_ns}, {"compute_busy_ns", w.stream_compute_ns}, {"overlap_ns", w.stream_overlap_ns}}},
            {"decode_recording",
             {{"dispatches", w.decode_recording.dispatches},
              {"barriers", w.decode_recording.barriers},
              {"submissions", w.decode_recording.submissions},
              {"waited_uploads", w.decode_recording.waited_uploads}}},
            {"samples", samples}};
}

}  // namespace

namespace {
// Peak RSS less the RSS before the first engine (the part the RAM budget promises).
uint64 rss_growth(const BenchReport& r) { return r.peak_rss_bytes - std::min(r.peak_rss_bytes, r.rss_before_engine_bytes); }
}  // namespace

nlohmann::json to_json(const BenchReport& r) {
    nlohmann::json workloads = nlohmann::json::array();
    for (auto& w : r.workloads) workloads.push_back(to_json(w));
    const ModelInfo& m = r.model;
    const RunConfigInfo& c = r.config;
    const double gib = double(uint64(1) << 30);
    return {{"schema_version", kReportSchemaVersion},
            {"tool_version", r.tool_version},
            {"started_at", r.started_at},
            {"model",
             {{"path", m.path},
              {"name", m.name},
              {"architecture", m.architecture},
              {"generated_shape", m.generated_shape},
              {"dtype", m.dtype},
              {"file_bytes", m.file_bytes},
              {"weight_bytes", m.weight_bytes},
              {"n_layer", m.n_layer},
              {"n_embd", m.n_embd},
              {"n_vocab", m.n_vocab},
              {"copy_cycle", m.copy_cycle}}},
            {"config",
             {{"backend", c.backend},
              {"description", c.description},
              {"vram_budget_gib", c.vram_budget_gib},
              {"ram_budget_gib", c.ram_budget_gib},
              {"gpu_enabled", c.gpu_enabled},
              {"threads", c.threads},
              {"repetitions", c.repetitions},
              {"placement", c.placement},
              {"devices", c.devices},
              {"kernel_profiling", c.kernel_profiling}}},
            {"probes", to_json(r.probes)},
            {"workloads", workloads},
            {"speculative", to_json(r.speculative)},
            {"memory",
             {{"peak_vram_bytes", r.peak_vram_bytes},
              {"weight_bytes_vram_resident", r.weight_bytes_vram_resident},
              {"peak_rss_bytes", r.peak_rss_bytes},
              {"vram_budget_bytes", uint64(c.vram_budget_gib * gib)},
              {"ram_budget_bytes", uint64(c.ram_budget_gib * gib)},
              {"peak_vram_fraction_of_budget", c.vram_budget_gib > 0 ? double(r.peak_vram_bytes) / (c.vram_budget_gib * gib) : 0.0},
              {"peak_rss_fraction_of_budget", c.ram_budget_gib > 0 ? double(r.peak_rss_bytes) / (c.ram_budget_gib * gib) : 0.0},
              {"rss_before_engine_bytes", r.rss_before_engine_bytes},
              {"rss_file_growth_bytes", r.rss_file_growth_bytes},
              {"peak_rss_growth_fraction_of_budget", c.ram_budget_gib > 0 ? double(rss_growth(r)) / (c.ram_budget_gib * gib) : 0.0}}}};
}

// ---- table ------------------------------------------------------------------------

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    return fmt(u == 0 ? "%.0f" : "%.2f", b) + " " + units[u];
}

std::string gbps_text(const Bandwidth& b) { return b.measured ? fmt("%.2f GB/s", b.gbps) : "n/a"; }

std::string tier_cell(const TierFigure& f) {
    if (f.bytes_per_token <= 0) return "-";
    std::string s = human_bytes(f.bytes_per_token) + " @ " + fmt("%.2f", f.achieved_gbps);
    s += f.ceiling_gbps > 0 ? fmt("/%.1f GB/s", f.ceiling_gbps) : "/? GB/s";
    return s;
}

using Rows = std::vector<std::vector<std::string>>;

// "4.00" for budgets from 1 GiB, "0.25" (3 significant digits) below.
std::string gib_text(double gib) { return fmt(gib >= 1 ? "%.2f" : "%.3g", gib); }

// The model, backend, engine, placement and machine lines, then a blank line.
std::string header_lines(const BenchReport& r) {
    std::ostringstream o;
    const ModelInfo& m = r.model;
    o << "model:    " << m.path;
    if (!m.generated_shape.empty()) o << " (generated " << m.generated_shape << ")";
    o << "\n          " << m.architecture << ", " << m.n_layer << " layers, n_embd " << m.n_embd << ", vocab " << m.n_vocab
      << ", " << m.dtype << ", weights " << human_bytes(double(m.weight_bytes));
    if (!m.copy_cycle.empty()) o << ", copy cycle of " << m.copy_cycle.size() << " tokens";
    o << "\n";
    o << "backend:  " << r.config.backend << "   budgets: VRAM " << gib_text(r.config.vram_budget_gib) << " GiB, RAM "
      << gib_text(r.config.ram_budget_gib) << " GiB" << (r.config.gpu_enabled ? "" : "   (--disable-gpu)") << "\n";
    if (!r.config.description.empty()) o << "engine:   " << r.config.description << "\n";
    if (!r.config.placement.empty() || r.weight_bytes_vram_resident > 0)
        o << "placement: " << (r.config.placement.empty() ? "-" : r.config.placement) << ", weights resident in VRAM "
          << human_bytes(double(r.weight_bytes_vram_resident)) << "\n";
    for (const std::string& d : r.config.devices) o << "  " << d << "\n";
    const ProbeResults& p = r.probes;
    o << "machine:  " << p.hostname << ", " << p.cpu_model << " (" << p.cpu_threads << " threads)"
      << (p.device_name.empty() ? "" : ", " + p.device_name) << (p.from_cache ? "   [probes cached " + p.probed_at + "]" : "")
      << "\n\n";
    return o.str();
}

// A probe's method, with its note in parentheses; its note alone when not measured.
template <class Ceiling>
std::string how_measured(const Ceiling& c) {
    std::string how = c.measured ? c.method : c.note;
    if (c.measured && !c.note.empty()) how += " (" + c.note + ")";
    return how;
}

std::string probe_table(const ProbeResults& p) {
    Rows rows = {{"ceiling", "GB/s", "method"}};
    const std::pair<const char*, const Bandwidth*> bandwidths[] = {
        {"disk read", &p.disk_read},         {"host memory", &p.host_memory},     {"host->device", &p.host_to_device},
        {"device->host", &p.device_to_host}, {"device memory", &p.device_memory}, {"device copy", &p.device_copy}};
    for (const auto& [name, b] : bandwidths) rows.push_back({name, gbps_text(*b), how_measured(*b)});
    const Throughput& t = p.device_f16_matmul;
    const std::string rate = !t.measured ? "n/a" : t.tflops >= 1 ? fmt("%.2f TFLOPS", t.tflops) : fmt("%.2f GFLOPS", t.tflops * 1e3);
    rows.push_back({"device f16 matmul", rate, how_measured(t)});
    return render(rows, true);
}

std::string workload_table(const std::vector<WorkloadResult>& workloads) {
    Rows rows = {{"test", "t/s median", "min", "max", "TTFT ms", "weights/token", "bound t/s", "of bound", "limited by"}};
    for (const WorkloadResult& w : workloads) {
        const Accounting& a = w.accounting;
        rows.push_back({w.name, fmt("%.2f", w.tokens_per_second.median), fmt("%.2f", w.tokens_per_second.min),
                        fmt("%.2f", w.tokens_per_second.max), w.kind != "pp" ? fmt("%.1f", w.ttft_ms.median) : "-",
                        human_bytes(a.weight_bytes_per_token), a.bound_tokens_per_second > 0 ? fmt("%.2f", a.bound_tokens_per_second) : "?",
                        a.bound_tokens_per_second > 0 ? fmt("%.1f%%", 100 * a.fraction_of_bound) : "?",
                        a.bound_tier.empty() ? "?" : a.bound_tier});
    }
    return render(rows);
}

// Parallel generations: aggregate and per-sequence rates, and what one pass over the weights
// costs per step against per token (the step's cost shared by its sequences).
std::string parallel_table(const std::vector<WorkloadResult>& workloads) {
    Rows rows = {{"parallel", "sequences", "aggregate t/s", "per sequence t/s", "TTFT ms", "weights/step", "weights/token", "bound t/s", "scheduling"}};
    for (const WorkloadResult& w : workloads) {
        if (w.kind != "par") continue;
        const Accounting& a = w.accounting;
        rows.push_back({w.name, std::to_string(w.parallel), fmt("%.2f", w.tokens_per_second.median), fmt("%.2f", w.per_sequence_tokens_per_second.median),
                        fmt("%.1f", w.ttft_ms.median), human_bytes(a.weight_bytes_per_pass), human_bytes(a.weight_bytes_per_token),
                        a.bound_tokens_per_second > 0 ? fmt("%.2f", a.bound_tokens_per_second) : "?", w.scheduling});
    }
    return rows.size() > 1 ? render(rows, true) + "\n" : std::string();
}

// GPU time per forward pass (timestamps at both ends of every pass) against the wall time
// per token: the rest is host time with the GPU idle (recording before the first
// submission, the fence wait's wake-up, sampling) or, in a hybrid decode, the CPU's part.
std::string gpu_busy_lines(const std::vector<WorkloadResult>& workloads) {
    std::ostringstream o;
    for (const WorkloadResult& w : workloads) {
        uint64 passes = 0, timed = 0;
        double wall = 0;
        for (const RunSample& s : w.samples) {
            passes += s.forward_passes;
            timed += w.kind == "tg" ? (s.tokens > 1 ? s.tokens - 1 : 0) : w.kind == "par" ? s.tokens : 1;
            wall += s.seconds;
        }
        if (w.gpu_time_ns == 0 || passes == 0 || timed == 0 || wall <= 0) continue;
        const double gpu_ms = double(w.gpu_time_ns) / 1e6 / double(passes), wall_ms = wall * 1e3 / double(timed);
        o << w.name << ": GPU busy " << fmt("%.3f", gpu_ms) << " ms per forward pass, " << fmt("%.1f%%", 100 * gpu_ms / wall_ms) << " of "
          << fmt("%.3f", wall_ms) << (w.kind == "pp" ? " ms per prompt" : " ms per token");
        const DecodeRecording& d = w.decode_recording;
        if (w.kind == "tg" && d.dispatches > 0)
            o << "; " << d.dispatches << " dispatches/token, " << d.barriers << " barriers, " << d.submissions << " submissions, " << d.waited_uploads
              << " waited uploads";
        o << "\n";
    }
    return o.str();
}

std::string tier_table(const std::vector<WorkloadResult>& workloads) {
    Rows rows = {{"bytes/token @ achieved/ceiling", "VRAM", "bus (H2D)", "RAM", "disk"}};
    for (const WorkloadResult& w : workloads) {
        const Accounting& a = w.accounting;
        rows.push_back({w.name, tier_cell(a.vram), tier_cell(a.bus), tier_cell(a.ram), tier_cell(a.disk)});
    }
    return render(rows);
}

// "66.0% of 5" (hit rate of the requests), "-" without requests.
std::string hit_cell(uint64 hits, uint64 misses, double rate) {
    return hits + misses ? fmt("%.1f%%", 100 * rate) + " of " + std::to_string(hits + misses) : std::string("-");
}

// The bound the design works from: bytes not resident in VRAM over the path they take.
std::string non_resident_table(const std::vector<WorkloadResult>& workloads) {
    Rows rows = {{"non-resident", "bytes/token", "ceiling", "bound t/s", "of bound", "RAM packs hit", "VRAM packs hit", "experts predicted", "experts in VRAM"}};
    for (const WorkloadResult& w : workloads) {
        const NonResidentBound& n = w.accounting.non_resident;
        const PackCacheFigures& pc = w.pack_cache;
        rows.push_back({w.name, n.bytes_per_token > 0 ? human_bytes(n.bytes_per_token) : "-",
                        n.ceiling_gbps > 0 ? fmt("%.1f GB/s ", n.ceiling_gbps) + "(" + n.ceiling + ")" : (n.bytes_per_token > 0 ? "?" : "-"),
                        n.bound_tokens_per_second > 0 ? fmt("%.2f", n.bound_tokens_per_second) : "-",
                        n.bound_tokens_per_second > 0 ? fmt("%.1f%%", 100 * n.fraction_of_bound) : "-",
                        hit_cell(pc.ram_hits, pc.ram_misses, pc.ram_hit_rate), hit_cell(pc.vram_hits, pc.vram_misses, pc.vram_hit_rate),
                        hit_cell(pc.expert_hits, pc.expert_misses, pc.expert_hit_rate),
                        hit_cell(pc.expert_vram_hits, pc.expert_vram_misses, pc.expert_vram_hit_rate)});
    }
    return render(rows);
}

// Per workload with profiling: its kernels' GPU time, then the stream timeline of its last
// pass when weights streamed; each followed by a blank line.
std::string kernel_tables(const std::vector<WorkloadResult>& workloads) {
    std::ostringstream o;
    for (const WorkloadResult& w : workloads) {
        if (w.kernels.empty()) continue;
        Rows rows = {{w.name + " kernel", "dispatches", "GPU ms", "us/token", "share of GPU time"}};
        for (const KernelFigure& k : w.kernels)
            rows.push_back({k.name, std::to_string(k.dispatches), fmt("%.3f", double(k.total_ns) / 1e6), fmt("%.2f", k.ns_per_token / 1e3),
                            k.fraction_of_gpu_time > 0 ? fmt("%.1f%%", 100 * k.fraction_of_gpu_time) : "?"});
        o << render(rows) << "(GPU time of the timed repetitions: " << fmt("%.3f", double(w.gpu_time_ns) / 1e6) << " ms)\n";
        if (w.stream_span_ns > 0)
            o << w.name << " stream timeline, last pass: " << fmt("%.3f", double(w.stream_span_ns) / 1e6) << " ms, uploads busy "
              << fmt("%.3f", double(w.stream_upload_ns) / 1e6) << " ms, compute busy " << fmt("%.3f", double(w.stream_compute_ns) / 1e6)
              << " ms, both at once " << fmt("%.3f", double(w.stream_overlap_ns) / 1e6) << " ms\n";
        o << "\n";
    }
    return o.str();
}

// Peak VRAM and RSS against their budgets, and the engines' RSS growth.
std::string memory_line(const BenchReport& r) {
    std::ostringstream o;
    const double gib = double(uint64(1) << 30);
    const double vram_budget = r.config.vram_budget_gib, ram_budget = r.config.ram_budget_gib;
    o << "peak VRAM " << human_bytes(double(r.peak_vram_bytes)) << " of " << gib_text(vram_budget) << " GiB budget ("
      << fmt("%.1f%%", vram_budget > 0 ? 100.0 * double(r.peak_vram_bytes) / (vram_budget * gib) : 0.0) << "), peak RSS "
      << human_bytes(double(r.peak_rss_bytes)) << " of " << gib_text(ram_budget) << " GiB budget ("
      << fmt("%.1f%%", ram_budget > 0 ? 100.0 * double(r.peak_rss_bytes) / (ram_budget * gib) : 0.0);
    if (r.rss_before_engine_bytes > 0 && ram_budget > 0)
        o << "; the engines' growth over the " << human_bytes(double(r.rss_before_engine_bytes)) << " before them: "
          << human_bytes(double(rss_growth(r))) << ", " << fmt("%.1f%%", 100.0 * double(rss_growth(r)) / (ram_budget * gib));
    if (r.rss_before_engine_bytes > 0 && r.rss_file_growth_bytes > 0)
        o << ", of which " << human_bytes(double(r.rss_file_growth_bytes)) << " file-backed (code, and host memory the GPU driver maps, e.g. staging)";
    o << ")\n";
    return o.str();
}

}  // namespace

std::string render(const std::vector<std::vector<std::string>>& rows, bool last_left) {
    std::vector<size_t> w;
    for (auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    std::ostringstream o;
    for (size_t ri = 0; ri < rows.size(); ++ri) {
        const auto& r = rows[ri];
        for (size_t i = 0; i < r.size(); ++i) {
            if (i) o << "  ";
            std::string pad(w[i] - r[i].size(), ' ');
            bool left = i == 0 || (last_left && i + 1 == r.size());
            o << (left ? r[i] + (i + 1 == r.size() ? "" : pad) : pad + r[i]);
        }
        o << "\n";
        if (ri == 0) {
            size_t total = 0;
            for (size_t x : w) total += x + 2;
            o << std::string(total - 2, '-') << "\n";
        }
    }
    return o.str();
}

std::string format_table(const BenchReport& r) {
    std::string out = header_lines(r);
    out += probe_table(r.probes) + "\n";
    out += workload_table(r.workloads) + gpu_busy_lines(r.workloads) + "\n";
    out += parallel_table(r.workloads);
    out += tier_table(r.workloads) + "\n";
    out += non_resident_table(r.workloads) + "\n";
    out += kernel_tables(r.workloads);
    out += speculative_tables(r.speculative);
    out += memory_line(r);
    return out;
}

}  // namespace vk_symbiote::bench
