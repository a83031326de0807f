/*
 * firmware/optionrom/romsum.c - build-time host tool: checks a flat option
 * ROM image and fixes its checksums.
 *
 * Contract
 * - Usage: romsum IN OUT. IN must be a whole number of 512-byte blocks
 *   (1..255), start with 0x55 0xAA and declare its own length at offset 2.
 * - When the word at 0x1A points at a "$PnP" header, that header's checksum
 *   byte (offset 9) is set so its length * 16 bytes sum to 0 mod 256.
 * - The last byte of the image is then set so the whole image sums to 0;
 *   the ROM source keeps that byte free.
 * - Exit status 0 on success, 1 with a message on stderr otherwise; OUT is
 *   only written when every check passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROM_BLOCK      512u
#define ROM_MAX        (255u * ROM_BLOCK)
#define ROM_PNP_PTR    0x1A
#define PNP_LEN_BYTE   5
#define PNP_CSUM_BYTE  9
#define PNP_MIN_LEN    0x20

static uint8_t romsum_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static int romsum_fix(uint8_t *rom, size_t len, const char *name)
{
	size_t pnp, pnp_len;

	if (len < ROM_BLOCK || len > ROM_MAX || len % ROM_BLOCK) {
		fprintf(stderr, "romsum: %s: %zu bytes is not 1-255 blocks of 512\n", name, len);
		return -1;
	}
	if (rom[0] != 0x55 || rom[1] != 0xAA) {
		fprintf(stderr, "romsum: %s: no 0x55 0xAA signature\n", name);
		return -1;
	}
	if ((size_t)rom[2] * ROM_BLOCK != len) {
		fprintf(stderr, "romsum: %s: size byte says %u blocks, the file has %zu\n", name,
			rom[2], len / ROM_BLOCK);
		return -1;
	}
	pnp = (size_t)rom[ROM_PNP_PTR] | ((size_t)rom[ROM_PNP_PTR + 1] << 8);
	if (pnp) {
		if (pnp > len - PNP_MIN_LEN || memcmp(rom + pnp, "$PnP", 4)) {
			fprintf(stderr, "romsum: %s: no $PnP header at 0x%zx\n", name, pnp);
			return -1;
		}
		pnp_len = (size_t)rom[pnp + PNP_LEN_BYTE] * 16;
		if (pnp_len < PNP_MIN_LEN || pnp_len > len - 1 - pnp) {
			fprintf(stderr, "romsum: %s: $PnP header length %zu does not fit\n", name,
				pnp_len);
			return -1;
		}
		rom[pnp + PNP_CSUM_BYTE] = 0;
		rom[pnp + PNP_CSUM_BYTE] = (uint8_t)-romsum_sum(rom + pnp, pnp_len);
	}
	rom[len - 1] = 0;
	rom[len - 1] = (uint8_t)-romsum_sum(rom, len);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t *rom;
	size_t len;
	FILE *f;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: romsum IN OUT\n");
		return 1;
	}
	rom = malloc(ROM_MAX + 1);        /* one more: a longer file is caught */
	if (!rom) {
		perror("romsum");
		return 1;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		goto out;
	}
	len = fread(rom, 1, ROM_MAX + 1, f);
	if (ferror(f)) {
		perror(argv[1]);
		fclose(f);
		goto out;
	}
	fclose(f);
	if (romsum_fix(rom, len, argv[1]))
		goto out;
	f = fopen(argv[2], "wb");
	if (!f) {
		perror(argv[2]);
		goto out;
	}
	if ((fwrite(rom, 1, len, f) != len) | (fclose(f) != 0)) {
		perror(argv[2]);
		remove(argv[2]);
		goto out;
	}
	ret = 0;
out:
	free(rom);
	return ret;
}
