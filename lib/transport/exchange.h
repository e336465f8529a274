// A block exchange with every rank of a communicator: each peer is served by
// the transport that fits where it lives (itself: a copy; the same node: POSIX
// shared memory; another node: UCX). Dispatch, combine and sam-perf's baseline
// all move their bytes through here, so traffic is counted in one place.
#pragma once

#include <string>
#include <vector>

#include "sam.h"
#include "transport/traffic.h"
#include "transport/transport.h"

struct samComm;

namespace sam {

// Collective over all ranks of `comm`; blocks until this rank's sends and
// receives are complete or the communicator's timeout passes. Counts every
// block in comm->traffic and, when given, in `extra` (a plan's own counters).
samResult_t exchange(samComm* comm, const ExchangeSpec& spec, TrafficTable* extra = nullptr);

// For a rank that finds, before an exchange, that it cannot take part (a bad
// argument of a collective data-path call): takes the exchange's sequence
// number and tells every peer, so they fail at once with samRemoteError
// naming this rank instead of waiting for the timeout. sendBytes[p] is what
// peer p expects from this rank in that exchange. Afterwards this
// communicator's data path is broken on this rank too (the channels are out
// of step), as on its peers. With no peer (one rank) nothing changes.
// Best effort: a failure to notify is logged, never returned.
void abandonExchange(samComm* comm, const std::vector<size_t>& sendBytes, const std::string& why);

}  // namespace sam
