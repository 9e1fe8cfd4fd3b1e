#include "packs/PackCacheSetup.h"

#include <sys/stat.h>

#include <filesystem>

#include "compression/Compression.h"
#include "gguf/ModelSource.h"

namespace vk_symbiote {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

}  // namespace

Expected<std::vector<std::string>> pack_cache_candidates(std::string_view algorithm) {
    if (algorithm == "blosc" || algorithm == "blosc2") return std::vector<std::string>{};
    if (algorithm == "none")
        return make_error(ErrorCode::InvalidArgument, "compression_algorithm 'none' means no pack cache (packs are read from the model file)");
    for (const CodecDescription& c : codec_table())
        if (c.name == algorithm && c.alias_of.empty() && c.name != "none") return std::vector<std::string>{c.name};
    std::string names = "blosc, blosc2";
    for (const std::string& n : canonical_codec_names())
        if (n != "none") names += ", " + n;
    return make_error(ErrorCode::InvalidArgument, "compression_algorithm '" + std::string(algorithm) + "' is not a pack codec (valid: none, " + names + ")");
}

Expected<PackCacheStatus> ensure_pack_cache(const ModelSource& model, const PackPlan& plan, const PackCacheOptions& opts,
                                            PackCacheProgressFn progress) {
    PackCacheStatus st;
    st.path = pack_cache_path(model.path(), opts.cache_dir);
    const std::vector<std::string> want = pack_cache_codec_list(opts);
    std::error_code ec;
    bool other_codecs = false;  // a valid cache exists, built with other codecs
    if (std::filesystem::exists(st.path, ec)) {
        auto r = PackCacheReader::open(st.path, model, plan);
        st.content_checked = r && (*r)->content_checked();
        if (r && (*r)->codec_names() == want) return st;
        other_codecs = bool(r);
        st.rebuilt_because = r ? st.path.string() + " was built with codecs [" + join((*r)->codec_names()) + "], compression_algorithm asks for [" + join(want) + "]"
                               : r.error().message;
    }
    // A directory whose mode grants nobody write permission is read-only to us even when
    // running as root (a shared, read-only model directory must stay untouched).
    struct stat ds {};
    const Path dir = st.path.parent_path();
    Expected<Path> built = make_error(ErrorCode::Io, dir.string() + ": the directory is read-only (no write permission bits); not writing a pack cache there");
    if (::stat(dir.c_str(), &ds) != 0 || (ds.st_mode & 0222) != 0) built = build_pack_cache(model, plan, opts, std::move(progress));
    if (!built && other_codecs) {
        // Lossless either way: keep using the valid cache we cannot replace.
        st.rebuilt_because += "; cannot rebuild it (" + built.error().message + "), using it as it is";
        return st;
    }
    if (!built) return built.error();
    st.path = *built;
    st.built = true;
    auto check = PackCacheReader::open(st.path, model, plan);  // the header just written must read back
    if (!check) return check.error();
    return st;
}

}  // namespace vk_symbiote
