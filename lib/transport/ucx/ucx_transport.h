// The between-node transport of the host backend: block exchanges over UCX
// (UCP tag matching), one UCP context and worker per communicator rank. UCX
// picks the wire (tcp, verbs, shared memory, ...) itself; UCX_TLS and the
// other UCX_* variables of the environment steer it as usual.
//
// Semantics, beyond the Transport interface (lib/transport/transport.h):
// - A block travels as one tagged message, tag = (seq mod 2^32) << 32 | the
//   sender's rank, matched with a full mask: exchanges with different seq
//   never mix, whatever order the ranks post them in.
// - Zero-byte blocks are skipped on both sides and not counted: the traffic
//   table holds exactly the messages that crossed the wire (one per non-empty
//   block), bytes = the block sizes.
// - Blocks are counted in the table passed to post() when they are posted.
// - wait() completes every exchange posted since the previous wait, not only
//   the last one, so two exchanges may be in flight.
// - A peer that dies gives samRemoteError (UCX's PEER error mode), one that
//   stays silent samTimeout; both name the ranks. The blocks with healthy
//   peers get up to 0.5 s more to finish, so that those peers do not fail
//   too and blame this rank. Any failure breaks the transport for good: every
//   later post() and wait() fails with the same code, since the ranks no
//   longer agree on which exchange is which.
// - `peers` must not contain this rank (the self transport copies those).
// - One thread at a time (UCS_THREAD_MODE_SERIALIZED), not concurrently.
#pragma once

#include <atomic>
#include <memory>

#include "bootstrap/bootstrap.h"
#include "sam.h"
#include "transport/transport.h"

namespace sam {

// Collective over all ranks of `bootstrap`: each calls it once, in the same
// order as its other bootstrap collectives. Exchanges worker addresses,
// creates an endpoint to every other rank and sends one small message over
// each connection both ways (bounded by `timeoutMs`), so every rank fails,
// naming the ranks at fault, if any rank could not start UCX, create its
// endpoints or reach the others. The destructor flushes and closes the
// endpoints, waiting at most min(timeoutMs, 2 s) (2 s when timeoutMs <= 0):
// it never hangs. A wait returns samInvalidUsage as soon as `*aborted` (the
// communicator's flag, samCommAbort; may be null) is set, and the transport
// refuses further exchanges. `*out` is written only on success. See
// docs/UCX.md.
samResult_t createUcxTransport(Bootstrap& bootstrap, int timeoutMs, const std::atomic<bool>* aborted,
                               std::unique_ptr<Transport>* out);

}  // namespace sam
