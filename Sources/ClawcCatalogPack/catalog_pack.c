#include "ClawcCatalogPack.h"

// C23's #embed: the file's bytes as the array's initializer, and a dependency of this file for the build, so a
// regenerated pack is compiled in again.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc23-extensions"
static const unsigned char pack[] = {
#embed "catalog.pack"
};
#pragma clang diagnostic pop

const unsigned char *clawc_catalog_pack(void) { return pack; }
unsigned long clawc_catalog_pack_size(void) { return sizeof pack; }
