// The bootstrap's wire format: every message is a fixed 20-byte header
// followed by `length` payload bytes. Encoding and parsing are pure functions
// (bytes in, message or error out) so the fuzzer can drive the parser alone,
// and so the root can reject garbage, truncated or oversized input before it
// allocates or trusts anything.
//
// Header (little-endian):
//   u32 magic "SAMB" | u8 version | u8 type | u16 op | i32 rank | u32 seq | u32 length
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sam {
namespace wire {

constexpr uint32_t kMagic = 0x424d4153u;  // "SAMB" as bytes on the wire
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 20;
constexpr size_t kSecretBytes = 16;
constexpr int32_t kMaxRanks = 1 << 20;
constexpr size_t kMaxErrorText = 4096;
// Before a peer has proven it knows the secret it may send only a hello:
// its payload bound keeps a stranger from making the root allocate much.
constexpr uint32_t kMaxHelloPayload = 64;

using Secret = std::array<uint8_t, kSecretBytes>;

enum class MsgType : uint8_t {
  Hello = 1,       // leaf -> root: secret, nranks (header.rank = sender)
  Welcome = 2,     // root -> leaf: secret, nranks: the rendezvous is complete
  Error = 3,       // either way: a failure every rank must report (code, text)
  Contribute = 4,  // leaf -> root: this rank's part of collective `seq`
  Result = 5,      // root -> leaf: the outcome of collective `seq`
};

enum class Op : uint16_t { None = 0, Allgather = 1, Broadcast = 2, Barrier = 3 };
const char* opName(Op op);

struct Header {
  MsgType type = MsgType::Hello;
  Op op = Op::None;
  int32_t rank = 0;
  uint32_t seq = 0;
  uint32_t length = 0;
};

// What the receiver is prepared to accept.
struct Limits {
  uint32_t maxPayload = 0;  // bytes after the header
  int32_t nranks = 0;       // ranks in the job; 0 = not known yet (any rank < kMaxRanks)
};

// A parsed message. Which fields are meaningful depends on header.type/op.
struct Message {
  Header header;
  Secret secret{};                 // Hello, Welcome
  int32_t nranks = 0;              // Hello, Welcome
  int32_t errorCode = 0;           // Error: a samResult_t other than success
  std::string errorText;           // Error
  int32_t bcastRoot = 0;           // Contribute with op Broadcast
  std::string blob;                // Contribute, Result of Broadcast
  std::vector<std::string> blobs;  // Result of Allgather: one per rank
};

enum class ParseStatus { Ok, Incomplete, Invalid };
struct ParseResult {
  ParseStatus status = ParseStatus::Invalid;
  size_t consumed = 0;  // bytes making up the message (Ok only)
  std::string error;    // why (Invalid only)
};

// The header alone (needs kHeaderBytes): checks magic, version, type, the op
// that goes with the type, rank range and the payload bound.
ParseResult parseHeader(const uint8_t* data, size_t size, const Limits& limits, Header* out);
// The payload of a message whose header was parsed (size must equal header.length).
ParseResult parseBody(const Header& header, const uint8_t* body, size_t size, const Limits& limits,
                      Message* out);
// Header and payload from one buffer: Incomplete while bytes are missing.
ParseResult parseMessage(const uint8_t* data, size_t size, const Limits& limits, Message* out);

// Encoders: each returns header + payload, ready to write.
std::string encodeHello(int32_t rank, int32_t nranks, const Secret& secret);
std::string encodeWelcome(int32_t nranks, const Secret& secret);
std::string encodeError(int32_t rank, int32_t code, const std::string& text);
std::string encodeContribute(int32_t rank, Op op, uint32_t seq, int32_t bcastRoot, const std::string& blob);
std::string encodeResult(Op op, uint32_t seq, const std::vector<std::string>& blobs, const std::string& blob);

// Constant-time comparison, so response timing does not leak the secret.
bool secretsEqual(const Secret& a, const Secret& b);

}  // namespace wire
}  // namespace sam
