/*
 * common/file.h - read a whole file into memory, with a size cap.
 * Returns 0, -errno from open/read, or -EFBIG when the file exceeds @max.
 */
#ifndef VMM_COMMON_FILE_H
#define VMM_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

int file_read_all(const char *path, uint8_t **buf, size_t *len, size_t max) WUR;

#endif
