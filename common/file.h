/*
 * common/file.h - read a whole file into memory, with a size cap.
 * Returns 0, -errno from open/read, -EINVAL for a file that is not a regular
 * file, or -EFBIG when the file exceeds @max.
 */
#ifndef VMM_COMMON_FILE_H
#define VMM_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

int file_read_all(const char *path, uint8_t **buf, size_t *len, size_t max) WUR;
/*
 * Map a whole file read-only (private: later changes to the file may or may
 * not show). No copy and no page is touched up front: big kernel images cost
 * nothing until read. An empty file maps to a valid pointer of length 0.
 * Same errors as file_read_all; undo with file_unmap().
 */
int file_map(const char *path, const uint8_t **map, size_t *len, size_t max) WUR;
void file_unmap(const uint8_t *map, size_t len);

#endif
