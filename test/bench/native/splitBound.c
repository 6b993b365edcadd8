/*
 * The write splitter's per-byte work in C, as an nbdkit plugin: a bound for what a native data
 * path could reach on the same machine, measured by the splitter bench (nativeBound.ts).
 *
 * Each WRITE: an xxh64 of the payload (the journal record's hash), the image written through the
 * page cache, and a journal record appended as the splitter appends it: payloads of 128 KiB and
 * more O_DIRECT to a payload file (a 4 KiB header block, then the payload padded to 4 KiB),
 * smaller ones (header and payload) to the segment file through the page cache. The reply goes
 * once both writes are over. FLUSH syncs the journal's two files only: the image is redone from
 * them after a crash. Left out, so this is an upper bound: LSNs and segment
 * files, crash recovery, bookmarks and the drain that turns the journal into batches. The one
 * cost it has that the splitter does not: nbdkit hands over a payload in memory it allocated, so
 * it is copied into an aligned buffer for O_DIRECT (the splitter reads payloads into aligned
 * memory to begin with).
 *
 * Build: gcc -O2 -fPIC -shared -o splitBound.so splitBound.c
 * Run:   nbdkit -f -U sock ./splitBound.so file=disk.img journal=dir
 */
#define _GNU_SOURCE
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define BLOCK 4096
#define DIRECT_MIN_BYTES (128 * 1024)

static const char *image_path, *journal_dir;
static int image_fd = -1, payload_fd = -1, segment_fd = -1;
static _Atomic uint64_t payload_end, segment_end, next_lsn;

/* One aligned buffer per nbdkit worker thread, grown to the largest record it wrote. */
static __thread void *record_buf;
static __thread size_t record_cap;

static int split_config(const char *key, const char *value) {
  if (strcmp(key, "file") == 0) image_path = value;
  else if (strcmp(key, "journal") == 0) journal_dir = value;
  else {
    nbdkit_error("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int split_config_complete(void) {
  if (!image_path || !journal_dir) {
    nbdkit_error("file= and journal= are required");
    return -1;
  }
  return 0;
}

static int split_get_ready(void) {
  image_fd = open(image_path, O_RDWR | O_CLOEXEC);
  if (image_fd < 0) {
    nbdkit_error("open %s: %m", image_path);
    return -1;
  }
  int dir = open(journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    nbdkit_error("open %s: %m", journal_dir);
    return -1;
  }
  int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
  payload_fd = openat(dir, "payloads", flags | O_DIRECT, 0600);
  segment_fd = openat(dir, "segment", flags, 0600);
  close(dir);
  if (payload_fd < 0 || segment_fd < 0) {
    nbdkit_error("open the journal in %s: %m", journal_dir);
    return -1;
  }
  return 0;
}

static void *split_open(int readonly) { return &image_fd; }

static int64_t split_get_size(void *handle) {
  struct stat st;
  if (fstat(image_fd, &st) < 0) {
    nbdkit_error("fstat: %m");
    return -1;
  }
  return st.st_size;
}

static int split_can_flush(void *handle) { return 1; }

static int write_all(int fd, const void *buf, size_t len, uint64_t at) {
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf = (const char *)buf + n;
    len -= n;
    at += n;
  }
  return 0;
}

static int split_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  while (count > 0) {
    ssize_t n = pread(image_fd, buf, count, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      nbdkit_error("pread: %m");
      return -1;
    }
    buf = (char *)buf + n;
    count -= n;
    offset += n;
  }
  return 0;
}

/* The record of a payload under DIRECT_MIN_BYTES: header and payload, through the page cache. */
static int append_small(const void *buf, uint32_t count, const uint64_t header[4]) {
  char record[32 + DIRECT_MIN_BYTES];
  memcpy(record, header, 32);
  memcpy(record + 32, buf, count);
  uint64_t at = atomic_fetch_add(&segment_end, 32 + (uint64_t)count);
  return write_all(segment_fd, record, 32 + (size_t)count, at);
}

/* A large payload's record: a header block, then the payload padded to a block, O_DIRECT. */
static int append_direct(const void *buf, uint32_t count, const uint64_t header[4]) {
  size_t len = BLOCK + (((size_t)count + BLOCK - 1) & ~(size_t)(BLOCK - 1));
  if (record_cap < len) {
    free(record_buf);
    record_buf = NULL;
    record_cap = 0;
    if (posix_memalign(&record_buf, BLOCK, len) != 0) return -1;
    record_cap = len;
  }
  memset(record_buf, 0, BLOCK);
  memcpy(record_buf, header, 32);
  memcpy((char *)record_buf + BLOCK, buf, count);
  uint64_t at = atomic_fetch_add(&payload_end, len);
  return write_all(payload_fd, record_buf, len, at);
}

static int split_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                        uint32_t flags) {
  uint64_t header[4] = {atomic_fetch_add(&next_lsn, 1), offset, count, XXH64(buf, count, 0)};
  if (write_all(image_fd, buf, count, offset) < 0) {
    nbdkit_error("image write: %m");
    return -1;
  }
  int r = count < DIRECT_MIN_BYTES ? append_small(buf, count, header)
                                   : append_direct(buf, count, header);
  if (r < 0) {
    nbdkit_error("journal write: %m");
    return -1;
  }
  return 0;
}

static int split_flush(void *handle, uint32_t flags) {
  if (fdatasync(payload_fd) < 0 || fdatasync(segment_fd) < 0) {
    nbdkit_error("fdatasync: %m");
    return -1;
  }
  return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "splitbound",
    .config = split_config,
    .config_complete = split_config_complete,
    .get_ready = split_get_ready,
    .open = split_open,
    .get_size = split_get_size,
    .can_flush = split_can_flush,
    .pread = split_pread,
    .pwrite = split_pwrite,
    .flush = split_flush,
};

NBDKIT_REGISTER_PLUGIN(plugin)
