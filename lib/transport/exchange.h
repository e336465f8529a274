// A block exchange with every rank of a communicator: each peer is served by
// the transport that fits where it lives (itself: a copy; the same node: POSIX
// shared memory; another node: UCX). Dispatch, combine and sam-perf's baseline
// all move their bytes through here, so traffic is counted in one place.
#pragma once

#include "sam.h"
#include "transport/traffic.h"
#include "transport/transport.h"

struct samComm;

namespace sam {

// Collective over all ranks of `comm`; blocks until this rank's sends and
// receives are complete or the communicator's timeout passes. Counts every
// block in comm->traffic and, when given, in `extra` (a plan's own counters).
samResult_t exchange(samComm* comm, const ExchangeSpec& spec, TrafficTable* extra = nullptr);

}  // namespace sam
