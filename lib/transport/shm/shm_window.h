// One rank's shared-memory receive window: a file in SAM_SHM_DIR (/dev/shm,
// as shm_open uses), sized once, mapped by the rank and by its same-node
// peers. It holds one channel per local source rank; a channel is a ring of
// fixed chunk slots plus two counters (chunks published, chunks consumed),
// so a transfer of any size crosses a bounded window.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "sam.h"

namespace sam {

struct ShmGeometry {
  uint32_t channels = 0;    // local ranks of the node
  uint32_t slots = 0;       // chunk slots per channel
  uint64_t chunkBytes = 0;  // payload bytes per slot
  size_t windowBytes() const;
};

// Shared layout. Counters are only touched with __atomic builtins
// (acquire/release): the memory is shared between processes.
struct alignas(64) ShmWindowHeader {
  uint64_t magic;
  uint32_t channels, slots;
  uint64_t chunkBytes;
  int64_t ownerPid;
};
struct alignas(64) ShmCounter {
  uint64_t value;
};
struct ShmChannelCtl {
  ShmCounter head;  // chunks the sender has published (written by the sender)
  ShmCounter tail;  // chunks the receiver has consumed (written by the receiver)
};
struct alignas(64) ShmSlotHeader {
  uint64_t seq;    // exchange sequence number the chunk belongs to
  uint64_t chunk;  // the channel's running chunk number
  uint64_t bytes;  // payload bytes in this chunk
};

class ShmWindow {
 public:
  ShmWindow() = default;
  ~ShmWindow();
  ShmWindow(const ShmWindow&) = delete;
  ShmWindow& operator=(const ShmWindow&) = delete;

  // Creates the file exclusively (O_EXCL), reserves its memory (a full
  // /dev/shm fails here, not later with SIGBUS) and maps it.
  samResult_t create(const std::string& path, const ShmGeometry& g);
  // Maps a peer's window and checks its header against the expected geometry.
  samResult_t open(const std::string& path, const ShmGeometry& g);
  // Removes the name; the mapping lives on until unmapped.
  void unlink();

  ShmWindowHeader* header() const { return static_cast<ShmWindowHeader*>(base_); }
  ShmChannelCtl* channel(uint32_t c) const;
  ShmSlotHeader* slot(uint32_t c, uint64_t chunk) const;
  uint8_t* slotData(uint32_t c, uint64_t chunk) const { return reinterpret_cast<uint8_t*>(slot(c, chunk) + 1); }
  const ShmGeometry& geometry() const { return g_; }

 private:
  void* base_ = nullptr;
  size_t bytes_ = 0;
  std::string path_;
  bool owner_ = false;
  ShmGeometry g_;
};

}  // namespace sam
