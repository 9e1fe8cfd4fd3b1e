// HfCheckpoint: the shared folders open (by folder, file or index); a sharded copy of
// hf/llama31 reads back every tensor's bytes through the one address space; the index is
// checked against the shards (missing shard, tensor absent or elsewhere, tensor in two
// shards, bad shard names), each error naming the files and the tensor; opening never reads
// tensor data.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "hf/HfCheckpoint.h"
#include "hf/HfTestFiles.h"
#include "hf/SafetensorsWriter.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// The tensors of hf/llama31 split over three shards (by their order in the file) in a fresh
// folder, with an index; `edit` may change the weight map before it is written.
struct ShardedCopy {
    Path dir;
    std::map<std::string, std::vector<uint8>> bytes;  // every tensor's contents
    nlohmann::json weight_map = nlohmann::json::object();
};

ShardedCopy sharded_llama31(const std::string& folder) {
    ShardedCopy c;
    c.dir = tmp_dir() / folder;
    std::filesystem::create_directories(c.dir);
    auto src = SafetensorsFile::open(hf_model_dir("llama31") / "model.safetensors");
    EXPECT_TRUE(src);
    const auto& ts = (*src)->tensors();
    for (size_t s = 0; s < 3; ++s) {
        SafetensorsWriter w;
        const std::string name = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
        for (size_t k = s * ts.size() / 3; k < (s + 1) * ts.size() / 3; ++k) {
            auto b = (*src)->read_tensor(ts[k].name);
            c.bytes[ts[k].name] = *b;
            w.add_tensor(ts[k].name, ts[k].dtype, ts[k].shape, [data = *b](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
                std::memcpy(dst, data.data() + off, n);
                return {};
            });
            c.weight_map[ts[k].name] = name;
        }
        EXPECT_TRUE(w.write(c.dir / name));
    }
    return c;
}

void write_index(const ShardedCopy& c) {
    const nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", c.weight_map}};
    write_file(c.dir / HfCheckpoint::kIndexFile, index.dump(2));
}

void expect_error(const Expected<std::unique_ptr<HfCheckpoint>>& r, ErrorCode code, std::initializer_list<std::string> parts) {
    ASSERT_FALSE(r) << "opened";
    EXPECT_EQ(r.error().code, code) << r.error().message;
    for (const auto& p : parts) EXPECT_NE(r.error().message.find(p), std::string::npos) << "no '" << p << "' in: " << r.error().message;
}

TEST(HfCheckpoint, SharedFoldersOpen) {
    for (const auto& name : hf_model_names()) {
        SCOPED_TRACE(name);
        auto c = HfCheckpoint::open(hf_model_dir(name));
        ASSERT_TRUE(c) << c.error().to_string();
        auto f = SafetensorsFile::open(hf_model_dir(name) / "model.safetensors");
        ASSERT_TRUE(f);
        EXPECT_EQ((*c)->shard_count(), 1u);
        EXPECT_EQ((*c)->tensors().size(), (*f)->tensors().size());
        for (const auto& t : (*f)->tensors()) {
            const HfTensor* h = (*c)->find(t.name);
            ASSERT_NE(h, nullptr) << t.name;
            EXPECT_EQ(h->offset, t.file_offset);  // one shard: the address space is the file
            EXPECT_EQ(h->shape, t.shape);
        }
    }
    auto by_file = HfCheckpoint::open(hf_model_dir("qwen2") / "model.safetensors");
    ASSERT_TRUE(by_file) << by_file.error().to_string();
    EXPECT_EQ((*by_file)->folder(), hf_model_dir("qwen2"));
}

TEST(HfCheckpoint, ShardedFolderReadsEveryTensor) {
    ShardedCopy c = sharded_llama31("sharded");
    write_index(c);
    for (const Path& open_as : {c.dir, c.dir / "model-00002-of-00003.safetensors", c.dir / HfCheckpoint::kIndexFile}) {
        SCOPED_TRACE(open_as);
        auto ck = HfCheckpoint::open(open_as);
        ASSERT_TRUE(ck) << ck.error().to_string();
        ASSERT_EQ((*ck)->shard_count(), 3u);
        EXPECT_EQ((*ck)->tensors().size(), c.bytes.size());
        for (uint32 s = 0; s < 3; ++s) EXPECT_EQ((*ck)->shard_base(s) % HfCheckpoint::kShardAlign, 0u);
        EXPECT_GE((*ck)->shard_base(1), (*ck)->shard(0).file_size());
        for (const auto& [name, data] : c.bytes) {
            const HfTensor* t = (*ck)->find(name);
            ASSERT_NE(t, nullptr) << name;
            const SafetensorsTensor* in_shard = (*ck)->shard(t->shard).find(name);
            ASSERT_NE(in_shard, nullptr);
            EXPECT_EQ(t->offset, (*ck)->shard_base(t->shard) + in_shard->file_offset);
            EXPECT_EQ(t->offset % 4096, in_shard->file_offset % 4096);  // O_DIRECT alignment is kept
            auto got = (*ck)->read_tensor(name);
            ASSERT_TRUE(got) << got.error().to_string();
            EXPECT_EQ(*got, data) << name;
        }
        // A read running past the end of its shard is refused, never continued in the next.
        const uint64 end0 = (*ck)->shard_base(0) + (*ck)->shard(0).file_size();
        std::vector<uint8> buf(16);
        EXPECT_FALSE((*ck)->read_range(end0 - 8, 16, buf.data()));
        EXPECT_TRUE((*ck)->check_unchanged());
    }
}

TEST(HfCheckpoint, IndexIsCheckedAgainstTheShards) {
    ShardedCopy c = sharded_llama31("bad-index");
    const std::string idx = (c.dir / HfCheckpoint::kIndexFile).string();

    ShardedCopy missing = c;
    missing.weight_map["extra.weight"] = "model-00004-of-00004.safetensors";
    write_index(missing);
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::NotFound, {idx, "shard 'model-00004-of-00004.safetensors'"});

    ShardedCopy absent = c;
    absent.weight_map["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00003.safetensors";
    write_index(absent);
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "'model.layers.9.mlp.up_proj.weight'", "which has no such tensor"});

    ShardedCopy elsewhere = c;
    elsewhere.weight_map["lm_head.weight"] = "model-00003-of-00003.safetensors";
    write_index(elsewhere);
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "'lm_head.weight' in shard 'model-00003-of-00003.safetensors'", "but it is in 'model-00001"});

    for (const std::string bad : {"../model.safetensors", "sub/x.safetensors", "model.bin", ""}) {
        ShardedCopy named = c;
        named.weight_map["lm_head.weight"] = bad;
        write_index(named);
        expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "'lm_head.weight'", "is not a .safetensors file name"});
    }

    write_file(c.dir / HfCheckpoint::kIndexFile, R"({"metadata": {}})");
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "'weight_map' is missing"});
    write_file(c.dir / HfCheckpoint::kIndexFile, R"({"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}})");
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "key 'a' appears twice in 'weight_map'"});
    write_file(c.dir / HfCheckpoint::kIndexFile, R"({"weight_map": )");
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format, {idx, "not valid JSON"});
}

TEST(HfCheckpoint, TensorInTwoShardsIsRefused) {
    ShardedCopy c = sharded_llama31("twice");
    SafetensorsWriter w;  // a fourth shard that repeats lm_head.weight
    w.add_tensor("lm_head.weight", DType::BF16, {512, 128});
    ASSERT_TRUE(w.write(c.dir / "model-00004-of-00004.safetensors"));
    c.weight_map["model.extra"] = "model-00004-of-00004.safetensors";
    write_index(c);
    expect_error(HfCheckpoint::open(c.dir), ErrorCode::Format,
                 {"tensor 'lm_head.weight' is in two shards", "model-00001-of-00003.safetensors", "model-00004-of-00004.safetensors"});
}

TEST(HfCheckpoint, WhatIsNotACheckpointIsNamed) {
    std::filesystem::create_directories(tmp_dir() / "empty-folder");
    expect_error(HfCheckpoint::open(tmp_dir() / "empty-folder"), ErrorCode::NotFound, {"empty-folder", "not a Hugging Face model folder"});
    expect_error(HfCheckpoint::open(tmp_dir() / "no-such-thing"), ErrorCode::NotFound, {"no-such-thing", "no such file or folder"});
    expect_error(HfCheckpoint::open(write_tmp_file("notes.txt", "x")), ErrorCode::InvalidArgument, {"notes.txt", "not a Hugging Face model folder"});
    // A lone file that is not one of the index's shards opens as a one-file checkpoint.
    ShardedCopy c = sharded_llama31("lone");
    write_index(c);
    std::filesystem::copy_file(hf_model_dir("qwen3") / "model.safetensors", c.dir / "other.safetensors");
    auto lone = HfCheckpoint::open(c.dir / "other.safetensors");
    ASSERT_TRUE(lone) << lone.error().to_string();
    EXPECT_EQ((*lone)->shard_count(), 1u);
    EXPECT_NE((*lone)->find("model.layers.0.self_attn.q_norm.weight"), nullptr);
}

// A shard with a 256 MiB tensor whose data is a hole in a sparse file: opening reads the
// header only (the process's read counter moves by far less than the tensor).
TEST(HfCheckpoint, OpeningReadsNoTensorData) {
    const uint64 big = uint64(256) << 20;
    const std::string header = R"({"w":{"dtype":"F32","shape":[64,1048576],"data_offsets":[0,268435456]}})";
    const Path p = write_tmp_file("sparse/model.safetensors", safetensors_bytes(header, ""));
    std::filesystem::resize_file(p, 8 + header.size() + big);
    const auto before = process_read_bytes();
    if (!before) GTEST_SKIP() << "/proc/self/io: no I/O accounting on this kernel";
    auto c = HfCheckpoint::open(p.parent_path());
    const uint64 read = process_read_bytes().value_or(0) - *before;
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->total_bytes(), big);
    EXPECT_LT(read, uint64(1) << 20) << "opening read " << read << " bytes";
}

}  // namespace
