// libFuzzer target: the bootstrap's message parser and unique-id decoder, the
// code that reads bytes from strangers (tests/bootstrap/test_wire.cc holds
// the deterministic cases). Properties checked beyond "no crash, no UB":
//  - Ok consumes exactly header + length bytes, never more than given;
//  - a message that parses re-encodes to the same bytes where the encoding is
//    canonical (everything but error texts, which are sanitised).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bootstrap/unique_id.h"
#include "bootstrap/wire.h"

using namespace sam::wire;

namespace {

std::string reencode(const Message& m) {
  switch (m.header.type) {
    case MsgType::Hello: return encodeHello(m.header.rank, m.nranks, m.secret);
    case MsgType::Welcome: return encodeWelcome(m.nranks, m.secret);
    case MsgType::Contribute: return encodeContribute(m.header.rank, m.header.op, m.header.seq, m.bcastRoot, m.blob);
    case MsgType::Result: return encodeResult(m.header.op, m.header.seq, m.blobs, m.blob);
    default: return std::string();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the receiver's limits: before authentication, or a
  // job of a few ranks with a small message bound.
  Limits limits = data[0] & 1 ? Limits{kMaxHelloPayload, 0} : Limits{1 << 16, static_cast<int32_t>(data[0] >> 1) + 1};
  const uint8_t* p = data + 1;
  size_t n = size - 1;
  Message m;
  ParseResult r = parseMessage(p, n, limits, &m);
  if (r.status == ParseStatus::Ok) {
    if (r.consumed != kHeaderBytes + m.header.length || r.consumed > n) abort();
    if (m.header.type != MsgType::Error) {
      std::string again = reencode(m);
      if (again.size() != r.consumed || memcmp(again.data(), p, r.consumed) != 0) abort();
    }
  }
  if (size >= SAM_UNIQUE_ID_BYTES) {
    samUniqueId id;
    memcpy(&id, data, sizeof(id));
    sam::UniqueIdContents c;
    std::string why;
    if (sam::decodeUniqueId(id, &c, &why)) {
      samUniqueId again;
      sam::encodeUniqueId(c, &again);
      if (memcmp(&again, &id, sizeof(id)) != 0) abort();
      (void)c.root.toString();
    }
  }
  return 0;
}
