#include "src/base/utf8.h"

#include <stdint.h>

bool
orch_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	bool ok = true;

	while (ok && i < n) {
		unsigned char b = s[i];
		size_t k = 0;
		uint32_t cp = 0, min = 0;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			k = 1;
			cp = b & 0x1f;
			min = 0x80;
		} else if (b >= 0xe0 && b <= 0xef) {
			k = 2;
			cp = b & 0x0f;
			min = 0x800;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 3;
			cp = b & 0x07;
			min = 0x10000;
		} else {
			ok = false;
			break;
		}
		if (n - i <= k) {
			ok = false;
			break;
		}
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				ok = false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			ok = false;
		i += k + 1;
	}
	return ok;
}
