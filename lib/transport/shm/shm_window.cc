#include "transport/shm/shm_window.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace sam {
namespace {
constexpr uint64_t kWindowMagic = 0x53414d53484d5731;  // "SAMSHMW1"

size_t ctlBytes(const ShmGeometry& g) { return sizeof(ShmWindowHeader) + g.channels * sizeof(ShmChannelCtl); }
size_t slotStride(const ShmGeometry& g) { return sizeof(ShmSlotHeader) + ((g.chunkBytes + 63) & ~uint64_t{63}); }
}  // namespace

size_t ShmGeometry::windowBytes() const { return ctlBytes(*this) + size_t{channels} * slots * slotStride(*this); }

ShmWindow::~ShmWindow() {
  if (base_ != nullptr) munmap(base_, bytes_);
  if (owner_) unlink();
}

samResult_t ShmWindow::create(const std::string& path, const ShmGeometry& g) {
  g_ = g;
  bytes_ = g.windowBytes();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return failf(samSystemError, "shm: cannot create %s: %s", path.c_str(), strerror(errno));
  path_ = path;
  owner_ = true;
  int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes_));
  if (err != 0) {
    ::close(fd);
    return failf(samSystemError, "shm: cannot reserve %zu bytes for %s: %s (is the shared-memory mount full? see SAM_SHM_DIR, "
                 "SAM_SHM_CHUNK_BYTES)", bytes_, path.c_str(), strerror(err));
  }
  base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    return failf(samSystemError, "shm: cannot map %s (%zu bytes): %s", path.c_str(), bytes_, strerror(errno));
  }
  ShmWindowHeader* h = header();
  h->channels = g.channels;
  h->slots = g.slots;
  h->chunkBytes = g.chunkBytes;
  h->ownerPid = getpid();
  __atomic_store_n(&h->magic, kWindowMagic, __ATOMIC_RELEASE);
  SAM_INFO(LOG_SHM, "shm: created %s, %zu bytes (%u channels x %u slots x %llu bytes)", path.c_str(), bytes_,
           g.channels, g.slots, static_cast<unsigned long long>(g.chunkBytes));
  return samSuccess;
}

samResult_t ShmWindow::open(const std::string& path, const ShmGeometry& g) {
  g_ = g;
  bytes_ = g.windowBytes();
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) return failf(samSystemError, "shm: cannot open peer window %s: %s", path.c_str(), strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != bytes_) {
    ::close(fd);
    return failf(samSystemError, "shm: peer window %s has %lld bytes, expected %zu", path.c_str(),
                 static_cast<long long>(st.st_size), bytes_);
  }
  base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    return failf(samSystemError, "shm: cannot map peer window %s: %s", path.c_str(), strerror(errno));
  }
  const ShmWindowHeader* h = header();
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != kWindowMagic || h->channels != g.channels ||
      h->slots != g.slots || h->chunkBytes != g.chunkBytes)
    return failf(samInvalidArgument, "shm: peer window %s has another geometry (SAM_SHM_CHUNK_BYTES and SAM_SHM_CHUNKS "
                 "must be the same on every rank)", path.c_str());
  path_ = path;
  return samSuccess;
}

void ShmWindow::unlink() {
  if (!path_.empty() && owner_) ::unlink(path_.c_str());
  owner_ = false;
}

ShmChannelCtl* ShmWindow::channel(uint32_t c) const {
  return reinterpret_cast<ShmChannelCtl*>(static_cast<uint8_t*>(base_) + sizeof(ShmWindowHeader)) + c;
}

ShmSlotHeader* ShmWindow::slot(uint32_t c, uint64_t chunk) const {
  size_t index = size_t{c} * g_.slots + chunk % g_.slots;
  return reinterpret_cast<ShmSlotHeader*>(static_cast<uint8_t*>(base_) + ctlBytes(g_) + index * slotStride(g_));
}

}  // namespace sam
