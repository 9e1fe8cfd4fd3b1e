// PipelineLink: how the ranks of a pipeline talk: blocking sends and receives of raw bytes
// between two ranks, each with a deadline, so a dead or stuck peer ends in an error that names
// it (rank and host) instead of a hang. The MPI implementation is MpiLink.cpp; a build without
// MPI has none (open_mpi_link says so).
//
// Messages (tags) of one run, in order: Hello (every rank > 0 to rank 0: its model's identity,
// host and budgets), Verdict (rank 0 to each: refusal or its layer range), Ready (each rank > 0
// to rank 0 once its weights are placed, and back once all are: PipelineStage::ready), then per forward
// step Step (header) + Activations (rank r to r + 1) and Logits (last rank to rank 0); after the
// stop Step, Report (every rank > 0 to rank 0: PipelineReport).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::pipeline {

enum class Tag : int { Hello = 1, Verdict = 2, Step = 3, Activations = 4, Logits = 5, Report = 6, Ready = 7 };

// Time spent in send() / recv() (waiting included) and bytes moved, since open.
struct LinkStats {
    uint64 comm_ns = 0;
    uint64 bytes_sent = 0;
    uint64 bytes_received = 0;
};

class PipelineLink {
public:
    virtual ~PipelineLink() = default;
    virtual uint32 rank() const = 0;
    virtual uint32 size() const = 0;
    // `bytes` bytes to / from rank `peer`; the error (after the timeout, plus slack_s for this
    // receive, or from the transport) names this rank, the peer and their hosts.
    virtual ExpectedVoid send(uint32 peer, Tag tag, const void* data, uint64 bytes) = 0;
    virtual ExpectedVoid recv(uint32 peer, Tag tag, void* data, uint64 bytes, double slack_s = 0) = 0;
    // A receive posted now and finished by recv_wait (in posting order per peer and tag): rank 0
    // posts the logits of every micro-batch in flight before it sends the next one, so that the
    // last rank's send never waits on a rank 0 that is itself sending (no cycle of blocked sends).
    virtual Expected<uint64> recv_post(uint32 peer, Tag tag, void* data, uint64 bytes) = 0;
    virtual ExpectedVoid recv_wait(uint64 id, double slack_s = 0) = 0;
    // Ends every rank's process now (this one with `code`): after an error here, so that no
    // peer waits for a message that will not come.
    [[noreturn]] virtual void abort(int code) = 0;
    LinkStats stats() const { return stats_; }

    // This machine's name (MPI_Get_processor_name).
    virtual std::string host() const = 0;
    // Host names of all ranks once rank 0 told them (until then only this rank's is known).
    void set_hosts(std::vector<std::string> hosts) { hosts_ = std::move(hosts); }
    // "rank 1 (host node2)".
    std::string who(uint32 r) const;

protected:
    LinkStats stats_;
    std::vector<std::string> hosts_;
};

// Joins the MPI job this process was started in (mpirun; a process started alone is a job of
// one rank). timeout_s: the longest one send or receive waits. Unsupported in a build without
// MPI ("this build of vk_symbiote has no MPI").
Expected<std::unique_ptr<PipelineLink>> open_mpi_link(double timeout_s);

}  // namespace vk_symbiote::pipeline
