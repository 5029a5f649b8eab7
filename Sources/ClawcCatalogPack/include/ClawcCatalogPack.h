#ifndef CLAWC_CATALOG_PACK_H
#define CLAWC_CATALOG_PACK_H

/// The AWS action catalog in its loading form (`catalog.pack`, written by scripts/build-catalog.py from the JSON
/// catalog in Sources/ClawcCatalog/Resources/catalog), compiled into the binary: read-only data, no file to find.
const unsigned char *clawc_catalog_pack(void);
unsigned long clawc_catalog_pack_size(void);

#endif
