#include "engine/CliSupport.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "probe/Probes.h"
#include "probe/VulkanProbe.h"
#include "config/Logger.h"
#include "common/Units.h"
#include "engine/CliHelp.h"
#include "engine/OracleLine.h"
#include "engine/WeightScan.h"
#include "model/LoadedModel.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::tool {

int load_config(ConfigManager& cfg, int argc, char** argv, const char* program) {
    auto r = cfg.load_from_args(argc, argv);
    if (!r) {
        std::fprintf(stderr, "%s: %s\n(run %s --help for the options, --help-all for the [tuning] knobs too)\n", program, r.error().message.c_str(),
                     program);
        return 2;
    }
    if (cfg.help_requested()) {
        // vk_symbiote's subcommands and examples; the other programs list their options.
        const bool main_tool = std::string_view(program) == "vk_symbiote";
        std::fputs((main_tool ? help_text(cfg, program, cfg.subcommand(), cfg.help_all_requested()) : cfg.help_text(program, cfg.help_all_requested())).c_str(),
                   stdout);
        return 0;
    }
    if (cfg.version_requested()) {
        std::fputs(version_text(program).c_str(), stdout);
        return 0;
    }
    if (auto lr = Logger::instance().configure(cfg.logging()); !lr) {
        std::fprintf(stderr, "%s: %s\n", program, lr.error().message.c_str());
        return 2;
    }
    return -1;
}

Expected<Path> model_path(const ConfigManager& cfg) {
    if (!cfg.model().model_path.empty()) return cfg.resolve_model_path();
    return Path(cfg.model().models_dir) / "stories260K.gguf";
}

Expected<std::string> read_prompt_file(const std::string& path, uint64 max_bytes, const std::string& option) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return make_error(ErrorCode::InvalidArgument, path + ": " + option + " is a directory, not a file");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error(ErrorCode::Io, path + ": cannot read " + option + ": " + std::strerror(errno));
    std::string text;
    char buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        if (text.size() + n > max_bytes) {
            std::fclose(f);
            const std::string limit = max_bytes >= (1u << 20) ? std::to_string(max_bytes >> 20) + " MiB"
                                                               : std::to_string(max_bytes) + " bytes";
            return make_error(ErrorCode::InvalidArgument, path + ": " + option + " is larger than the limit of " + limit);
        }
        text.append(buf, n);
    }
    const int err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err) return make_error(ErrorCode::Io, path + ": cannot read " + option + ": " + std::strerror(err));
    return text;
}

Expected<std::string> prompt_text(const ConfigManager& cfg) {
    const auto& s = cfg.sampling();
    if (s.prompt_set && !s.prompt_file.empty())
        return make_error(ErrorCode::InvalidArgument, "--prompt and --prompt-file are both given; pass one of them");
    if (!s.prompt_file.empty()) return read_prompt_file(s.prompt_file);
    return s.prompt;
}

ExpectedVoid check_stdout_open() {
    if (::fcntl(STDOUT_FILENO, F_GETFD) == -1)
        return make_error(ErrorCode::Io, "stdout is closed: the output would be lost");
    return {};
}

int finish_stdout(int rc) {
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    if (flushed && !std::ferror(stdout)) return rc;
    const int err = errno;
    std::fprintf(stderr, "error: writing to stdout failed%s%s: the output is incomplete\n", err ? ": " : "",
                 err ? std::strerror(err) : "");
    return rc ? rc : 1;
}

Error explain_non_finite(const Path& model, Error e) {
    auto m = LoadedModel::open(model, false);
    if (!m) return e;
    auto bad = first_non_finite_weight((*m)->source(), (*m)->registry());
    if (!bad) e.message += " (scanning the weights failed: " + bad.error().message + ")";
    else if (*bad) e.message += "; the first non-finite weight is " + (*bad)->describe() + " of " + model.string();
    else e.message += "; every weight of " + model.string() + " is finite: the activations overflowed";
    return e;
}

int fail(const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.to_string().c_str());
    return 1;
}

// The weights are read once per pass: with speculative decoding a pass yields several tokens.
double decode_weight_gbps(const PerformanceMetrics& m) {
    if (m.verify_passes > 0 && m.generation_time_ns > 0) return double(m.model_weight_bytes) * double(m.decode_passes) / double(m.generation_time_ns);
    return double(m.model_weight_bytes) * m.average_tokens_per_second / 1e9;
}

double tokens_per_decode_pass(const PerformanceMetrics& m) { return m.decode_passes ? double(m.decode_tokens) / double(m.decode_passes) : 0.0; }

void print_draft_stats(const PerformanceMetrics& m) {
    std::fprintf(stderr,
                 "stats: speculative: %llu drafted tokens, %llu accepted (%.1f%%), %.2f tokens per decode pass (%llu passes, %llu verifying a draft); "
                 "time drafting %.1f ms, verifying %.1f ms\n",
                 (unsigned long long)m.draft_tokens, (unsigned long long)m.draft_accepted_tokens,
                 m.draft_tokens ? 100.0 * double(m.draft_accepted_tokens) / double(m.draft_tokens) : 0.0, tokens_per_decode_pass(m),
                 (unsigned long long)m.decode_passes, (unsigned long long)m.verify_passes, double(m.draft_time_ns) * 1e-6, double(m.verify_time_ns) * 1e-6);
}

// Pack reads: I/O and decode threads' busy time, compressed bytes read vs raw bytes delivered.
void print_pack_read_stats(const PerformanceMetrics& m) {
    const double disk = m.pack_io_active_seconds > 0 ? double(m.weight_bytes_disk) / m.pack_io_active_seconds / 1e9 : 0.0;
    const double per_thread = m.pack_decode_busy_seconds > 0 ? double(m.pack_cache_bytes_delivered) / m.pack_decode_busy_seconds / 1e9 : 0.0;
    std::fprintf(stderr,
                 "stats: pack reads: I/O threads busy %.2f s (%.2f s with a read in flight, %.2f GB/s from disk meanwhile); decode threads busy %.2f s "
                 "(%u threads, %.2f GB/s each); pack cache %.3f GB read -> %.3f GB delivered; %s\n",
                 m.pack_io_busy_seconds, m.pack_io_active_seconds, disk, m.pack_decode_busy_seconds, m.pack_decode_threads, per_thread,
                 double(m.pack_cache_bytes_read) / 1e9, double(m.pack_cache_bytes_delivered) / 1e9,
                 m.pack_reads_raw ? "packs now read raw from the model file" : (m.pack_decode_threads ? "packs read from the pack cache" : "no pack cache"));
}

void print_stats(const VulkanSymbioteEngine& engine) {
    const PerformanceMetrics& m = engine.get_performance_metrics();
    std::fprintf(stderr,
                 "stats: prompt %llu tokens at %.1f tokens/s, generated %llu tokens at %.2f tokens/s (the weights, %s, read at %.2f GB/s), "
                 "first token after %.1f ms, %llu forward passes, backend %s, GPU %.1f%% busy, peak RSS %s, peak VRAM %s, weights read %s, "
                 "uploaded %s\n",
                 (unsigned long long)m.total_prompt_tokens, m.prompt_tokens_per_second, (unsigned long long)m.total_generated_tokens,
                 m.average_tokens_per_second, format_gib(m.model_weight_bytes).c_str(), decode_weight_gbps(m), m.time_to_first_token_ms,
                 (unsigned long long)m.total_inferences, m.backend.c_str(), m.gpu_utilization_percent, format_gib(m.peak_rss_bytes).c_str(),
                 format_gib(m.peak_vram_bytes).c_str(), format_gib(m.weight_bytes_disk).c_str(), format_gib(m.weight_bytes_uploaded).c_str());
    std::fprintf(stderr, "stats: sequences %s; at most %u per pass; prompt tokens from cache %llu; KV blocks %u used, %u peak of %u\n", m.scheduling.c_str(),
                 m.peak_sequences_per_pass, (unsigned long long)m.cached_prompt_tokens, m.kv_blocks_used, m.kv_blocks_peak, m.kv_blocks_total);
    if (const DecodeRecording& d = m.decode_recording; d.dispatches > 0)
        std::fprintf(stderr,
                     "stats: decode token on the GPU: %llu dispatches/token, %llu barriers/token, %llu submissions/token, %llu waited uploads/token, "
                     "%llu tokens queued ahead, %llu dropped\n",
                     (unsigned long long)d.dispatches, (unsigned long long)d.barriers, (unsigned long long)d.submissions, (unsigned long long)d.waited_uploads,
                     (unsigned long long)d.queued_ahead, (unsigned long long)d.dropped_ahead);
    if (m.ram_kv_gpu_rows > 0)
        std::fprintf(stderr, "stats: RAM-cache prompt rows attended on the GPU: %llu (rows x layers; %s of KV cache streamed from RAM)\n",
                     (unsigned long long)m.ram_kv_gpu_rows, format_gib(m.ram_kv_streamed_bytes).c_str());
    if (m.draft_tokens > 0 || m.verify_passes > 0) print_draft_stats(m);
    if (m.pack_io_busy_seconds > 0 || m.pack_decode_threads > 0) print_pack_read_stats(m);
    if (const uint64 routed = m.ram_expert_hits + m.ram_expert_misses; routed > 0)
        std::fprintf(stderr, "stats: experts predicted before their router ran: %.1f%% (%llu of %llu chosen)\n", 100.0 * double(m.ram_expert_hits) / double(routed),
                     (unsigned long long)m.ram_expert_hits, (unsigned long long)routed);
    if (const uint64 chosen = m.expert_vram_hits + m.expert_vram_misses; chosen > 0)
        std::fprintf(stderr, "stats: chosen experts found in VRAM: %.1f%% (%llu of %llu; the others uploaded or run in CPU layers)\n",
                     100.0 * double(m.expert_vram_hits) / double(chosen), (unsigned long long)m.expert_vram_hits, (unsigned long long)chosen);
}

nlohmann::json stats_json(const PerformanceMetrics& m) {
    nlohmann::json j = {{"prompt_tokens", m.total_prompt_tokens},
                        {"prompt_tokens_per_second", m.prompt_tokens_per_second},
                        {"generated_tokens", m.total_generated_tokens},
                        {"tokens_per_second", m.average_tokens_per_second},
                        {"weight_bytes", m.model_weight_bytes},
                        {"weights_gb_per_second", decode_weight_gbps(m)},
                        {"time_to_first_token_ms", m.time_to_first_token_ms},
                        {"forward_passes", m.total_inferences},
                        {"backend", m.backend},
                        {"peak_rss_bytes", m.peak_rss_bytes},
                        {"peak_vram_bytes", m.peak_vram_bytes},
                        {"weight_bytes_read", m.weight_bytes_disk},
                        {"weight_bytes_uploaded", m.weight_bytes_uploaded},
                        {"draft_tokens", m.draft_tokens},
                        {"draft_accepted_tokens", m.draft_accepted_tokens},
                        {"tokens_per_decode_pass", tokens_per_decode_pass(m)},
                        {"verify_passes", m.verify_passes},
                        {"draft_time_ms", double(m.draft_time_ns) * 1e-6},
                        {"verify_time_ms", double(m.verify_time_ns) * 1e-6},
                        {"decode_dispatches_per_token", m.decode_recording.dispatches},
                        {"decode_barriers_per_token", m.decode_recording.barriers},
                        {"decode_submissions_per_token", m.decode_recording.submissions},
                        {"decode_queued_ahead", m.decode_recording.queued_ahead},
                        {"decode_dropped_ahead", m.decode_recording.dropped_ahead}};
    j.update(pack_reads_json(m));
    return j;
}

nlohmann::json pack_reads_json(const PackReadStats& s) {
    return {{"pack_io_busy_seconds", s.pack_io_busy_seconds},
            {"pack_io_active_seconds", s.pack_io_active_seconds},
            {"pack_decode_busy_seconds", s.pack_decode_busy_seconds},
            {"pack_decode_threads", s.pack_decode_threads},
            {"pack_cache_bytes_read", s.pack_cache_bytes_read},
            {"pack_cache_bytes_delivered", s.pack_cache_bytes_delivered},
            {"pack_reads_raw", s.pack_reads_raw}};
}

void print_oracle_line(const VulkanSymbioteEngine& engine, const ConfigManager& cfg, const Path& model) {
    const PerformanceMetrics& m = engine.get_performance_metrics();
    // The benchmark keys its probe cache by the Vulkan device it would probe (whichever
    // backend ran); no device: "".
    auto dev = probe::vulkan_device_name();
    const std::string device = dev ? *dev : "";
    const Path dir = cfg.memory().cache_dir.empty() ? probe::default_cache_dir() : Path(cfg.memory().cache_dir);
    std::fprintf(stderr, "%s\n", oracle_line(m, find_peaks(dir, device, model, true)).c_str());
}

}  // namespace vk_symbiote::tool
