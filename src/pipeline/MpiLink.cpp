// MpiLink: PipelineLink over MPI point-to-point messages (MPI_COMM_WORLD, errors returned, not
// fatal). Every send and receive is nonblocking, then polled with MPI_Test until it completes
// or the deadline passes: MPI's blocking calls have no timeout. Compiled with MPI only when
// CMake found it (VKS_HAVE_MPI); otherwise open_mpi_link refuses.
#include "pipeline/PipelineLink.h"

#include <chrono>
#include <map>
#include <climits>
#include <thread>

#if VKS_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: OpenMPI's deprecated C++ bindings need libmpi_cxx
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace vk_symbiote::pipeline {

std::string PipelineLink::who(uint32 r) const {
    std::string host = r < hosts_.size() ? hosts_[r] : (r == rank() ? this->host() : std::string());
    return "rank " + std::to_string(r) + (host.empty() ? "" : " (host " + host + ")");
}

#if VKS_HAVE_MPI

namespace {

std::string mpi_error_text(int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
    return std::string(text, size_t(len));
}

class MpiLink final : public PipelineLink {
public:
    explicit MpiLink(double timeout_s) : timeout_(std::chrono::duration<double>(timeout_s)) {
        int r = 0, n = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        MPI_Comm_size(MPI_COMM_WORLD, &n);
        rank_ = uint32(r);
        size_ = uint32(n);
        char name[MPI_MAX_PROCESSOR_NAME];
        int len = 0;
        MPI_Get_processor_name(name, &len);
        host_.assign(name, size_t(len));
    }
    ~MpiLink() override { MPI_Finalize(); }

    uint32 rank() const override { return rank_; }
    uint32 size() const override { return size_; }
    std::string host() const override { return host_; }

    ExpectedVoid send(uint32 peer, Tag tag, const void* data, uint64 bytes) override {
        VKS_TRY(check(peer, bytes, "send to"));
        MPI_Request req;
        const int rc = MPI_Isend(data, int(bytes), MPI_BYTE, int(peer), int(tag), MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return fail("send to", peer, mpi_error_text(rc));
        VKS_TRY(wait(req, peer, "send to", 0));
        stats_.bytes_sent += bytes;
        return {};
    }

    ExpectedVoid recv(uint32 peer, Tag tag, void* data, uint64 bytes, double slack_s) override {
        VKS_TRY(check(peer, bytes, "receive from"));
        MPI_Request req;
        const int rc = MPI_Irecv(data, int(bytes), MPI_BYTE, int(peer), int(tag), MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return fail("receive from", peer, mpi_error_text(rc));
        VKS_TRY(wait(req, peer, "receive from", slack_s));
        stats_.bytes_received += bytes;
        return {};
    }

    Expected<uint64> recv_post(uint32 peer, Tag tag, void* data, uint64 bytes) override {
        VKS_TRY(check(peer, bytes, "receive from"));
        Posted p{peer, bytes, MPI_REQUEST_NULL};
        const int rc = MPI_Irecv(data, int(bytes), MPI_BYTE, int(peer), int(tag), MPI_COMM_WORLD, &p.req);
        if (rc != MPI_SUCCESS) return fail("receive from", peer, mpi_error_text(rc));
        posted_.emplace(next_id_, p);
        return next_id_++;
    }

    ExpectedVoid recv_wait(uint64 id, double slack_s) override {
        auto it = posted_.find(id);
        if (it == posted_.end()) return make_error(ErrorCode::Internal, "pipeline: " + who(rank_) + ": no posted receive " + std::to_string(id));
        Posted p = it->second;
        posted_.erase(it);
        VKS_TRY(wait(p.req, p.peer, "receive from", slack_s));
        stats_.bytes_received += p.bytes;
        return {};
    }

    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
    }

private:
    Error fail(const char* what, uint32 peer, const std::string& why) const {
        return make_error(ErrorCode::Io, "pipeline: " + who(rank_) + ": " + what + " " + who(peer) + ": " + why);
    }

    ExpectedVoid check(uint32 peer, uint64 bytes, const char* what) const {
        if (peer >= size_ || peer == rank_) return fail(what, peer, "no such peer in a job of " + std::to_string(size_) + " ranks");
        if (bytes > uint64(INT_MAX)) return fail(what, peer, std::to_string(bytes) + " bytes in one message (at most 2 GiB)");
        return {};
    }

    // Polls `req` until it completes or the timeout passes: first briefly at full speed
    // (a pipeline step's reply comes in microseconds), then every 200 us so that waiting ranks
    // sharing cores with working ones leave them the CPU.
    ExpectedVoid wait(MPI_Request& req, uint32 peer, const char* what, double slack_s) {
        const auto start = std::chrono::steady_clock::now();
        const auto limit = timeout_ + std::chrono::duration<double>(slack_s);
        const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit);
        for (uint32 polls = 0;; ++polls) {
            int done = 0;
            const int rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            const auto now = std::chrono::steady_clock::now();
            if (rc != MPI_SUCCESS) return fail(what, peer, mpi_error_text(rc));
            if (done) {
                stats_.comm_ns += uint64(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count());
                return {};
            }
            if (now > deadline) {
                MPI_Cancel(&req);
                MPI_Request_free(&req);
                return fail(what, peer, "nothing within " + std::to_string(int(limit.count())) + " s (--pipeline-timeout): that rank died, hangs or is unreachable");
            }
            if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }

    struct Posted {
        uint32 peer = 0;
        uint64 bytes = 0;
        MPI_Request req;
    };
    std::map<uint64, Posted> posted_;  // recv_post's receives not yet waited for, by id
    uint64 next_id_ = 1;
    std::chrono::duration<double> timeout_;
    uint32 rank_ = 0, size_ = 1;
    std::string host_;
};

}  // namespace

Expected<std::unique_ptr<PipelineLink>> open_mpi_link(double timeout_s) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        // Serialized: `serve --pipeline` talks from its engine thread, the rest from the main
        // thread, never both at once (the server joins its thread before the stop message).
        if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            return make_error(ErrorCode::Io, "pipeline: MPI_Init failed (start the ranks with mpirun)");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return std::unique_ptr<PipelineLink>(new MpiLink(timeout_s));
}

#else

Expected<std::unique_ptr<PipelineLink>> open_mpi_link(double) {
    return make_error(ErrorCode::Unsupported, "--pipeline: this build of vk_symbiote has no MPI (install libopenmpi-dev and openmpi-bin, then configure again)");
}

#endif

}  // namespace vk_symbiote::pipeline
