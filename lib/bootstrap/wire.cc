#include "bootstrap/wire.h"

#include <cstring>

#include "sam.h"

namespace sam {
namespace wire {
namespace {

void putU16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void putU32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t getU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t getU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

ParseResult ok(size_t consumed) { return {ParseStatus::Ok, consumed, ""}; }
ParseResult invalid(std::string why) { return {ParseStatus::Invalid, 0, std::move(why)}; }

std::string header(MsgType type, Op op, int32_t rank, uint32_t seq, size_t length) {
  std::string s;
  s.reserve(kHeaderBytes + length);
  putU32(s, kMagic);
  s.push_back(static_cast<char>(kVersion));
  s.push_back(static_cast<char>(type));
  putU16(s, static_cast<uint16_t>(op));
  putU32(s, static_cast<uint32_t>(rank));
  putU32(s, seq);
  putU32(s, static_cast<uint32_t>(length));
  return s;
}

bool typeTakesOp(MsgType t) { return t == MsgType::Contribute || t == MsgType::Result; }

ParseResult parseSecretAndRanks(const Header& h, const uint8_t* body, size_t size, Message* out) {
  if (size != kSecretBytes + 4) return invalid("hello/welcome payload must be 20 bytes");
  memcpy(out->secret.data(), body, kSecretBytes);
  out->nranks = static_cast<int32_t>(getU32(body + kSecretBytes));
  if (out->nranks < 1 || out->nranks > kMaxRanks) return invalid("nranks out of range");
  if (h.type == MsgType::Hello && (h.rank < 1 || h.rank >= out->nranks))
    return invalid("hello from rank " + std::to_string(h.rank) + " of " + std::to_string(out->nranks) +
                   " ranks (must be 1..nranks-1)");
  return ok(size);
}

ParseResult parseError(const uint8_t* body, size_t size, Message* out) {
  if (size < 4) return invalid("error payload shorter than its code");
  out->errorCode = static_cast<int32_t>(getU32(body));
  if (out->errorCode <= samSuccess || out->errorCode >= samNumResults) return invalid("error code out of range");
  if (size - 4 > kMaxErrorText) return invalid("error text too long");
  out->errorText.assign(reinterpret_cast<const char*>(body) + 4, size - 4);
  // Shown to users and written to logs: no control characters from the wire.
  for (char& c : out->errorText)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return ok(size);
}

ParseResult parseContribute(const Header& h, const uint8_t* body, size_t size, const Limits& limits,
                            Message* out) {
  if (h.op == Op::Broadcast) {
    if (size < 4) return invalid("broadcast contribution shorter than its root");
    out->bcastRoot = static_cast<int32_t>(getU32(body));
    int32_t bound = limits.nranks > 0 ? limits.nranks : kMaxRanks;
    if (out->bcastRoot < 0 || out->bcastRoot >= bound) return invalid("broadcast root out of range");
    body += 4;
    size -= 4;
  } else if (h.op == Op::Barrier && size != 0) {
    return invalid("barrier contribution carries data");
  }
  out->blob.assign(reinterpret_cast<const char*>(body), size);
  return ok(size);
}

ParseResult parseResult(const Header& h, const uint8_t* body, size_t size, const Limits& limits, Message* out) {
  if (h.op == Op::Barrier) return size == 0 ? ok(0) : invalid("barrier result carries data");
  if (h.op == Op::Broadcast) {
    out->blob.assign(reinterpret_cast<const char*>(body), size);
    return ok(size);
  }
  // Allgather: u32 count, count x u32 lengths, then the blobs back to back.
  if (size < 4) return invalid("allgather result shorter than its count");
  uint32_t count = getU32(body);
  if (count < 1 || count > static_cast<uint32_t>(kMaxRanks)) return invalid("allgather count out of range");
  if (limits.nranks > 0 && count != static_cast<uint32_t>(limits.nranks))
    return invalid("allgather result has " + std::to_string(count) + " blobs for " +
                   std::to_string(limits.nranks) + " ranks");
  size_t table = 4 + static_cast<size_t>(count) * 4;
  if (size < table) return invalid("allgather result truncated in its length table");
  size_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    total += getU32(body + 4 + 4 * static_cast<size_t>(i));
    if (total > size - table) return invalid("allgather lengths exceed the payload");
  }
  if (total != size - table) return invalid("allgather lengths do not add up to the payload");
  out->blobs.resize(count);
  size_t at = table;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t n = getU32(body + 4 + 4 * static_cast<size_t>(i));
    out->blobs[i].assign(reinterpret_cast<const char*>(body) + at, n);
    at += n;
  }
  return ok(size);
}

}  // namespace

const char* opName(Op op) {
  switch (op) {
    case Op::Allgather: return "allgather";
    case Op::Broadcast: return "broadcast";
    case Op::Barrier: return "barrier";
    default: return "none";
  }
}

ParseResult parseHeader(const uint8_t* data, size_t size, const Limits& limits, Header* out) {
  if (size < kHeaderBytes) return {ParseStatus::Incomplete, 0, ""};
  if (getU32(data) != kMagic) return invalid("bad magic (not a libsam bootstrap message)");
  if (data[4] != kVersion) return invalid("unsupported protocol version " + std::to_string(data[4]));
  uint8_t type = data[5];
  if (type < static_cast<uint8_t>(MsgType::Hello) || type > static_cast<uint8_t>(MsgType::Result))
    return invalid("unknown message type " + std::to_string(type));
  Header h;
  h.type = static_cast<MsgType>(type);
  uint16_t op = getU16(data + 6);
  if (typeTakesOp(h.type)) {
    if (op < static_cast<uint16_t>(Op::Allgather) || op > static_cast<uint16_t>(Op::Barrier))
      return invalid("unknown collective " + std::to_string(op));
  } else if (op != 0) {
    return invalid("op set on a message that takes none");
  }
  h.op = static_cast<Op>(op);
  h.rank = static_cast<int32_t>(getU32(data + 8));
  int32_t bound = limits.nranks > 0 ? limits.nranks : kMaxRanks;
  if (h.rank < 0 || h.rank >= bound) return invalid("sender rank " + std::to_string(h.rank) + " out of range");
  h.seq = getU32(data + 12);
  if (!typeTakesOp(h.type) && h.seq != 0) return invalid("sequence number set on a message outside a collective");
  if ((h.type == MsgType::Welcome || h.type == MsgType::Result) && h.rank != 0)
    return invalid("welcome/result not from rank 0");
  h.length = getU32(data + 16);
  if (h.length > limits.maxPayload)
    return invalid("payload of " + std::to_string(h.length) + " bytes exceeds the bound of " +
                   std::to_string(limits.maxPayload));
  *out = h;
  return ok(kHeaderBytes);
}

ParseResult parseBody(const Header& h, const uint8_t* body, size_t size, const Limits& limits, Message* out) {
  if (size != h.length) return invalid("payload size differs from the header's length");
  out->header = h;
  switch (h.type) {
    case MsgType::Hello:
    case MsgType::Welcome: return parseSecretAndRanks(h, body, size, out);
    case MsgType::Error: return parseError(body, size, out);
    case MsgType::Contribute: return parseContribute(h, body, size, limits, out);
    case MsgType::Result: return parseResult(h, body, size, limits, out);
  }
  return invalid("unknown message type");
}

ParseResult parseMessage(const uint8_t* data, size_t size, const Limits& limits, Message* out) {
  Header h;
  ParseResult r = parseHeader(data, size, limits, &h);
  if (r.status != ParseStatus::Ok) return r;
  if (size - kHeaderBytes < h.length) return {ParseStatus::Incomplete, 0, ""};
  r = parseBody(h, data + kHeaderBytes, h.length, limits, out);
  if (r.status == ParseStatus::Ok) r.consumed = kHeaderBytes + h.length;
  return r;
}

std::string encodeHello(int32_t rank, int32_t nranks, const Secret& secret) {
  std::string s = header(MsgType::Hello, Op::None, rank, 0, kSecretBytes + 4);
  s.append(reinterpret_cast<const char*>(secret.data()), secret.size());
  putU32(s, static_cast<uint32_t>(nranks));
  return s;
}

std::string encodeWelcome(int32_t nranks, const Secret& secret) {
  std::string s = header(MsgType::Welcome, Op::None, 0, 0, kSecretBytes + 4);
  s.append(reinterpret_cast<const char*>(secret.data()), secret.size());
  putU32(s, static_cast<uint32_t>(nranks));
  return s;
}

std::string encodeError(int32_t rank, int32_t code, const std::string& text) {
  std::string t = text.substr(0, kMaxErrorText);
  std::string s = header(MsgType::Error, Op::None, rank, 0, 4 + t.size());
  putU32(s, static_cast<uint32_t>(code));
  s += t;
  return s;
}

std::string encodeContribute(int32_t rank, Op op, uint32_t seq, int32_t bcastRoot, const std::string& blob) {
  bool bcast = op == Op::Broadcast;
  std::string s = header(MsgType::Contribute, op, rank, seq, (bcast ? 4 : 0) + blob.size());
  if (bcast) putU32(s, static_cast<uint32_t>(bcastRoot));
  s += blob;
  return s;
}

std::string encodeResult(Op op, uint32_t seq, const std::vector<std::string>& blobs, const std::string& blob) {
  if (op != Op::Allgather) {
    const std::string& payload = op == Op::Broadcast ? blob : std::string();
    std::string s = header(MsgType::Result, op, 0, seq, payload.size());
    s += payload;
    return s;
  }
  size_t total = 4 + 4 * blobs.size();
  for (const std::string& b : blobs) total += b.size();
  std::string s = header(MsgType::Result, op, 0, seq, total);
  putU32(s, static_cast<uint32_t>(blobs.size()));
  for (const std::string& b : blobs) putU32(s, static_cast<uint32_t>(b.size()));
  for (const std::string& b : blobs) s += b;
  return s;
}

bool secretsEqual(const Secret& a, const Secret& b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kSecretBytes; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace wire
}  // namespace sam
